/**
 * The daemon killed with SIGKILL and started again on the same state
 * directory: the job's container is resumed, never started twice, and its
 * output and result reach the API.
 */
import assert from "node:assert/strict";
import {
  type ReferenceApi,
  startReferenceApi,
} from "../../src/reference_api/server.ts";
import { type DaemonProcess, waitUntil } from "../support/daemon_process.ts";
import { jobLabels } from "../../src/execution/job_labels.ts";
import { containersOfJob, logLines, withHarness } from "../support/harness.ts";
import { TEST_IMAGE, testJob } from "../support/jobs.ts";
import {
  assertNoneLostAtMostOneRepeat,
  assertStatusLast,
  containerState,
  type CreationWatch,
  EventLog,
  expectedLines,
  integration,
  killDaemon,
  localDocker,
  notesOf,
  numberedLines,
  numberedScript,
  removeJobContainers,
  resumedContainerIds,
  resumedStates,
  shellJob,
  startChildDaemon,
  startedContainerIds,
  statusChanges,
  waitForEnd,
  waitForLines,
  watchCreations,
  withDaemonOutput,
} from "./reliability_support.ts";

/** Maximum wait for a job's end after the restart, in ms. */
const END_WAIT_MS = 60_000;

interface CrashScene {
  api: ReferenceApi;
  /** Creations of the job's containers since the scene started. */
  creations: CreationWatch;
  events: EventLog;
  stateDirectory: string;
  /** Starts a daemon child process on the shared state directory. */
  start(): DaemonProcess;
}

/**
 * Runs `body` with a reference API, a state directory and a way to start
 * daemons on it. At the end it kills every daemon it started and removes
 * the job's containers.
 */
async function withCrashScene(
  jobId: string,
  body: (scene: CrashScene) => Promise<void>,
): Promise<void> {
  const events = new EventLog();
  const api = await startReferenceApi({ onEvent: events.onEvent });
  const stateDirectory = await Deno.makeTempDir({ prefix: "iam-crash-" });
  const docker = localDocker();
  const creations = await watchCreations(docker, jobId);
  const daemons: DaemonProcess[] = [];
  try {
    await body({
      api,
      creations,
      events,
      stateDirectory,
      start: () => {
        const daemon = startChildDaemon(api, stateDirectory);
        daemons.push(daemon);
        return daemon;
      },
    });
  } catch (error) {
    throw withDaemonOutput(error, daemons);
  } finally {
    for (const daemon of daemons) await killDaemon(daemon);
    await creations.stop();
    await removeJobContainers(docker, jobId);
    await api.close();
    await Deno.remove(stateDirectory, { recursive: true });
  }
}

/**
 * Asserts that the job ran in exactly one container, that the second
 * daemon resumed that container, and that it is removed at the end.
 */
async function assertOneContainerResumed(
  api: ReferenceApi,
  jobId: string,
  creations: CreationWatch,
): Promise<void> {
  const docker = localDocker();
  const created = creations.ids();
  assert.equal(created.length, 1, `containers created: ${created}`);
  const notes = notesOf(api, jobId);
  assert.deepEqual(startedContainerIds(notes), [created[0].slice(0, 12)]);
  assert.deepEqual(resumedContainerIds(notes), [created[0].slice(0, 12)]);
  await waitUntil(
    async () => (await containersOfJob(docker, jobId)).length === 0,
    "the job's container to be removed",
  );
}

Deno.test({
  name: "SIGKILL between output bursts loses and repeats nothing",
  ...integration,
  async fn() {
    const jobId = crypto.randomUUID();
    await withCrashScene(jobId, async ({ api, creations, events, start }) => {
      const first = start();
      // Bursts of 20 lines with 2 s pauses: the kill falls in a pause, so
      // no log entry is in flight.
      api.addJob(shellJob(
        numberedScript(60, {
          pauseSeconds: 0.05,
          burstLines: 20,
          burstPauseSeconds: 2,
        }),
        { id: jobId },
      ));
      await waitForLines(api, jobId, 20);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(numberedLines(api, jobId).length, 20);
      await killDaemon(first);

      const second = start();
      assert.equal(await waitForEnd(api, jobId, END_WAIT_MS), "Completed");
      assert.deepEqual(numberedLines(api, jobId), expectedLines(60));
      assert.deepEqual(statusChanges(events, jobId), ["Running", "Completed"]);
      assertStatusLast(events, jobId, "Completed");
      await assertOneContainerResumed(api, jobId, creations);
      assert.deepEqual(resumedStates(second, jobId), ["running"]);
    });
  },
});

Deno.test({
  name: "SIGKILL during output loses nothing",
  ...integration,
  async fn() {
    const jobId = crypto.randomUUID();
    await withCrashScene(jobId, async ({ api, creations, events, start }) => {
      const first = start();
      api.addJob(shellJob(
        numberedScript(80, { pauseSeconds: 0.05 }),
        { id: jobId },
      ));
      await waitForLines(api, jobId, 15);
      await killDaemon(first);

      start();
      assert.equal(await waitForEnd(api, jobId, END_WAIT_MS), "Completed");
      assertNoneLostAtMostOneRepeat(
        numberedLines(api, jobId),
        expectedLines(80),
      );
      assertStatusLast(events, jobId, "Completed");
      await assertOneContainerResumed(api, jobId, creations);
    });
  },
});

Deno.test({
  name: "SIGKILL before the container exits reports its result",
  ...integration,
  async fn() {
    const jobId = crypto.randomUUID();
    await withCrashScene(jobId, async ({ api, creations, events, start }) => {
      const first = start();
      api.addJob(shellJob(
        'for i in 1 2 3 4 5; do echo "line $i"; done; sleep 2; ' +
          'echo "line 6"; echo "line 7"; echo "line 8"; exit 4',
        { id: jobId },
      ));
      await waitForLines(api, jobId, 5);
      // Lets the entry of lines 1 to 5 be acknowledged, so that the kill
      // does not cut its delivery (that entry would be sent again).
      await new Promise((resolve) => setTimeout(resolve, 300));
      await killDaemon(first);

      // The container prints its last lines and exits while no daemon runs.
      const docker = localDocker();
      const [container] = await containersOfJob(docker, jobId);
      assert.ok(container !== undefined, "the job's container is missing");
      await waitUntil(
        async () => await containerState(docker, container.Id) === "exited",
        "the container to exit",
        30_000,
      );
      assert.equal(api.getJob(jobId)?.status, "Running");

      const second = start();
      assert.equal(await waitForEnd(api, jobId, END_WAIT_MS), "Failed");
      assert.deepEqual(resumedStates(second, jobId), ["exited"]);
      assert.deepEqual(numberedLines(api, jobId), expectedLines(8));
      assert.match(notesOf(api, jobId), /Container exited with code 4/);
      // The container slept 2 s, so the duration counts from the first run.
      const duration = /Job failed after ([\d.]+) s/.exec(notesOf(api, jobId));
      assert.ok(duration !== null, "no duration in the job's log");
      assert.ok(Number(duration[1]) >= 2, `duration ${duration[1]} s`);
      assert.deepEqual(statusChanges(events, jobId), ["Running", "Failed"]);
      assertStatusLast(events, jobId, "Failed");
      await assertOneContainerResumed(api, jobId, creations);
    });
  },
});

Deno.test({
  name: "container created but never started is not Completed",
  ...integration,
  async fn() {
    // A kill between creating and starting the container leaves it in the
    // engine's `created` state. The test makes that state directly.
    const orchestratorId = crypto.randomUUID();
    const input = shellJob("echo ran", {
      id: crypto.randomUUID(),
      status: "Running",
    });
    const docker = localDocker();
    const container = await docker.createContainer({
      Image: TEST_IMAGE,
      Env: ["RUN=echo ran"],
      Labels: jobLabels(
        testJob({ id: input.id, name: input.name, customer: input.customer }),
        orchestratorId,
      ),
    });
    const events = new EventLog();
    try {
      await withHarness({
        settings: { "OrchestratorSettings:OrchestratorId": orchestratorId },
        api: { jobs: [input], onEvent: events.onEvent },
      }, async ({ api }) => {
        const jobId = input.id as string;
        // The job never ran: reporting Completed would claim work that was
        // not done.
        assert.equal(await waitForEnd(api, jobId, END_WAIT_MS), "Failed");
        assert.deepEqual(logLines(api, jobId, "container"), []);
        const errors = logLines(api, jobId, "orchestrator", "Error");
        assert.equal(errors.length, 1, errors.join("\n"));
        assert.match(errors[0], /not|never/);
        await waitUntil(
          async () => (await containersOfJob(docker, jobId)).length === 0,
          "the created container to be removed",
        );
      });
    } finally {
      await container.remove({ force: true }).catch(() => {});
    }
  },
});
