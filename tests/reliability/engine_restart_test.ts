/**
 * The Docker engine stopped and started again under the daemon, idle and
 * with a job running. These tests stop the machine's engine, so every other
 * user of it fails meanwhile. They sit in their own file for that reason,
 * and each starts the engine again in `finally`. They need
 * `--allow-run=bash` for `engine_control.sh`.
 */
import assert from "node:assert/strict";
import { waitUntil } from "../support/daemon_process.ts";
import {
  containersOfJob,
  type Harness,
  logLines,
  withHarness,
} from "../support/harness.ts";
import {
  assertStatusLast,
  type CapturedLogs,
  EventLog,
  expectedLines,
  integration,
  notesOf,
  numberedLines,
  numberedScript,
  removeJobContainers,
  shellJob,
  waitForEnd,
  waitForLines,
  withCapturedLogs,
} from "./reliability_support.ts";

const ENGINE_CONTROL = new URL("./engine_control.sh", import.meta.url)
  .pathname;

/** Stops, kills or starts the local engine with `engine_control.sh`. */
async function controlEngine(
  action: "stop" | "kill" | "start",
): Promise<void> {
  const { code, stderr } = await new Deno.Command("bash", {
    args: [ENGINE_CONTROL, action],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `Engine ${action} failed with exit code ${code}: ` +
        new TextDecoder().decode(stderr),
    );
  }
}

/**
 * Asserts that the engine runs without live-restore: only then do its
 * containers die with it, as these tests expect.
 */
async function assertLiveRestoreOff(): Promise<void> {
  const { code, stdout } = await new Deno.Command("docker", {
    args: ["info", "--format", "{{.LiveRestoreEnabled}}"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(code, 0, "docker info failed");
  assert.equal(
    new TextDecoder().decode(stdout).trim(),
    "false",
    "live-restore is on, so containers outlive the engine; turn it off " +
      "in /etc/docker/daemon.json for these tests",
  );
}

/** Asserts that the job's numbered lines arrived once each, in order. */
function assertOnceInOrder(lines: string[]): void {
  const numbers = lines.map((line) => Number(line.split(" ")[1]));
  for (let i = 1; i < numbers.length; i++) {
    assert.ok(
      numbers[i] > numbers[i - 1],
      `lines repeated or out of order: ${numbers}`,
    );
  }
}

/** What an engine test drives and observes. */
interface EngineScene extends Harness {
  logs: CapturedLogs;
  events: EventLog;
}

/**
 * Runs `body` with an in-process daemon whose records are captured, after
 * checking that live-restore is off. Starts the engine again if `body`
 * left it stopped, removes the containers of `jobIds`, and appends the
 * daemon's last records to a failure.
 */
async function withEngineScene(
  jobIds: string[],
  body: (scene: EngineScene) => Promise<void>,
): Promise<void> {
  await assertLiveRestoreOff();
  const events = new EventLog();
  await withCapturedLogs(async (logs) => {
    try {
      await withHarness({
        api: { onEvent: events.onEvent },
        settings: { "ContainerSettings:DefaultTimeout": "120" },
      }, async (harness) => {
        try {
          // The daemon checks the engine once before its first poll; a stop
          // during that check is another scene than the one under test.
          await waitUntil(
            () => harness.api.requests.pendingJobs > 0,
            "the daemon's first poll",
            15_000,
          );
          await body({ ...harness, logs, events });
        } finally {
          await controlEngine("start");
          for (const jobId of jobIds) {
            await removeJobContainers(harness.docker, jobId);
          }
        }
      });
    } catch (error) {
      const tail = logs.messages().slice(-30).join("\n");
      throw new Error(
        `${(error as Error).message}\n--- last daemon records ---\n${tail}`,
        { cause: error },
      );
    }
  });
}

Deno.test({
  name: "engine restart while idle leaves the daemon working",
  ...integration,
  fn: () =>
    withEngineScene([], async ({ api, logs }) => {
      await controlEngine("stop");
      await waitUntil(
        () =>
          logs.problems().some((message) =>
            /not polling for jobs until it does/.test(message)
          ),
        "the daemon to stop polling without an engine",
        15_000,
      );
      // A job listed now would fail for want of an engine; the daemon
      // leaves it Pending instead. Ten polling intervals pass meanwhile.
      const waiting = api.addJob(shellJob("echo waited"));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      assert.equal(api.getJob(waiting.id)?.status, "Pending");
      await controlEngine("start");

      assert.equal(await waitForEnd(api, waiting.id, 60_000), "Completed");
      assert.deepEqual(logLines(api, waiting.id, "container"), ["waited"]);
      const after = api.addJob(shellJob("echo after"));
      assert.equal(await waitForEnd(api, after.id, 60_000), "Completed");
      assert.deepEqual(logLines(api, after.id, "container"), ["after"]);

      const problems = logs.problems();
      assert.ok(
        problems.some((message) =>
          // A check during dockerd's shutdown meets a reset connection, a
          // check after it a missing socket.
          /Container engine check failed .*(does not exist|did not answer)/
            .test(message)
        ),
        problems.join("\n"),
      );
      const pauses = problems.filter((message) =>
        /not polling for jobs/.test(message)
      );
      assert.equal(pauses.length, 1, problems.join("\n"));
      assert.ok(
        logs.messages().some((message) => /polling resumes/.test(message)),
      );
    }),
});

const stopJobId = crypto.randomUUID();

Deno.test({
  name: "engine stop during a job fails the job",
  ...integration,
  fn: () =>
    withEngineScene([stopJobId], async ({ api, docker, events }) => {
      api.addJob(shellJob(numberedScript(300), { id: stopJobId }));
      await waitForLines(api, stopJobId, 10);
      // The engine stops the container (SIGTERM, exit code 143) before it
      // stops responding, so the runner receives the exit.
      await controlEngine("stop");
      await controlEngine("start");

      assert.equal(await waitForEnd(api, stopJobId, 60_000), "Failed");
      assert.match(notesOf(api, stopJobId), /Container exited with code 143/);
      assertStatusLast(events, stopJobId, "Failed");
      const lines = numberedLines(api, stopJobId);
      assert.ok(lines.length >= 10, `${lines.length} lines`);
      assert.deepEqual(lines, expectedLines(lines.length));
      await waitUntil(
        async () => (await containersOfJob(docker, stopJobId)).length === 0,
        "the job's container to be removed",
      );

      const after = api.addJob(shellJob("echo after"));
      assert.equal(await waitForEnd(api, after.id, 60_000), "Completed");
    }),
});

const crashJobId = crypto.randomUUID();

Deno.test({
  name: "engine crash during a job fails the job",
  ...integration,
  fn: () =>
    withEngineScene([crashJobId], async ({ api, docker, events }) => {
      api.addJob(shellJob(numberedScript(600), { id: crashJobId }));
      await waitForLines(api, crashJobId, 10);
      // SIGKILL: the container goes on without the engine, and the
      // engine's next start stops it. The runner must notice the loss by
      // itself, since the engine sends no exit.
      await controlEngine("kill");
      await waitUntil(
        () => /Lost the engine/.test(notesOf(api, crashJobId)),
        "the runner to note the lost engine",
        20_000,
      );
      await controlEngine("start");

      assert.equal(await waitForEnd(api, crashJobId, 60_000), "Failed");
      const notes = notesOf(api, crashJobId);
      assert.match(notes, /waiting for it to respond again/);
      assert.match(notes, /Container exited with code \d+/);
      assertStatusLast(events, crashJobId, "Failed");
      const lines = numberedLines(api, crashJobId);
      assert.ok(lines.length >= 10, `${lines.length} lines`);
      assertOnceInOrder(lines);
      await waitUntil(
        async () => (await containersOfJob(docker, crashJobId)).length === 0,
        "the job's container to be removed",
      );

      const after = api.addJob(shellJob("echo after"));
      assert.equal(await waitForEnd(api, after.id, 60_000), "Completed");
    }),
});
