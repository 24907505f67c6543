/**
 * SIGTERM with a job running, in both `OrchestratorSettings:OnShutdown`
 * modes: `Detach` leaves the container for the next start to resume, `Stop`
 * stops it and fails the job.
 */
import assert from "node:assert/strict";
import { startReferenceApi } from "../../src/reference_api/server.ts";
import type { DaemonProcess } from "../support/daemon_process.ts";
import { containersOfJob, logLines } from "../support/harness.ts";
import { waitUntil } from "../support/daemon_process.ts";
import {
  assertStatusLast,
  containerState,
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
  waitForExit,
  waitForLines,
  watchCreations,
  withDaemonOutput,
} from "./reliability_support.ts";

/** `OrchestratorSettings:ShutdownGraceSeconds` of these tests. */
const GRACE_SECONDS = 2;
/**
 * Maximum wait for the daemon's exit after SIGTERM, in ms: the grace
 * period plus time to stop the container and flush the outbox. A bound on
 * the wait, not a measured duration.
 */
const EXIT_WAIT_MS = GRACE_SECONDS * 1000 + 20_000;

Deno.test({
  name: "SIGTERM in Detach mode leaves the container to resume",
  ...integration,
  async fn() {
    const jobId = crypto.randomUUID();
    const events = new EventLog();
    const api = await startReferenceApi({ onEvent: events.onEvent });
    const stateDirectory = await Deno.makeTempDir({ prefix: "iam-term-" });
    const docker = localDocker();
    const creations = await watchCreations(docker, jobId);
    const settings = {
      "OrchestratorSettings:ShutdownGraceSeconds": String(GRACE_SECONDS),
      "OrchestratorSettings:OnShutdown": "Detach",
    };
    const daemons: DaemonProcess[] = [];
    try {
      const first = startChildDaemon(api, stateDirectory, settings);
      daemons.push(first);
      // 50 lines, 0.2 s apart: the job outlives the grace period.
      api.addJob(shellJob(
        numberedScript(50, { pauseSeconds: 0.2 }),
        { id: jobId },
      ));
      await waitForLines(api, jobId, 5);
      first.child.kill("SIGTERM");
      assert.equal(await waitForExit(first, EXIT_WAIT_MS), 0);

      const [container] = await containersOfJob(docker, jobId);
      assert.ok(container !== undefined, "the job's container is missing");
      assert.equal(await containerState(docker, container.Id), "running");
      assert.equal(api.getJob(jobId)?.status, "Running");
      assert.match(
        notesOf(api, jobId),
        /keeps running and is resumed at the next start/,
      );
      assert.match(first.output(), /Leaving 1 container running/);

      const second = startChildDaemon(api, stateDirectory, settings);
      daemons.push(second);
      assert.equal(await waitForEnd(api, jobId), "Completed");
      assert.deepEqual(numberedLines(api, jobId), expectedLines(50));
      assert.deepEqual(statusChanges(events, jobId), ["Running", "Completed"]);
      assertStatusLast(events, jobId, "Completed");
      assert.deepEqual(resumedStates(second, jobId), ["running"]);

      const created = creations.ids();
      assert.equal(created.length, 1, `containers created: ${created}`);
      const notes = notesOf(api, jobId);
      assert.deepEqual(startedContainerIds(notes), [created[0].slice(0, 12)]);
      assert.deepEqual(resumedContainerIds(notes), [created[0].slice(0, 12)]);
      await waitUntil(
        async () => (await containersOfJob(docker, jobId)).length === 0,
        "the job's container to be removed",
      );
    } catch (error) {
      throw withDaemonOutput(error, daemons);
    } finally {
      for (const daemon of daemons) await killDaemon(daemon);
      await creations.stop();
      await removeJobContainers(docker, jobId);
      await api.close();
      await Deno.remove(stateDirectory, { recursive: true });
    }
  },
});

Deno.test({
  name: "SIGTERM in Stop mode stops the container and fails the job",
  ...integration,
  async fn() {
    const jobId = crypto.randomUUID();
    const events = new EventLog();
    const api = await startReferenceApi({ onEvent: events.onEvent });
    const stateDirectory = await Deno.makeTempDir({ prefix: "iam-term-" });
    const docker = localDocker();
    const daemons: DaemonProcess[] = [];
    try {
      const daemon = startChildDaemon(api, stateDirectory, {
        "OrchestratorSettings:ShutdownGraceSeconds": String(GRACE_SECONDS),
        "OrchestratorSettings:OnShutdown": "Stop",
      });
      daemons.push(daemon);
      api.addJob(shellJob(
        numberedScript(50, { pauseSeconds: 0.2 }),
        { id: jobId },
      ));
      await waitForLines(api, jobId, 5);
      daemon.child.kill("SIGTERM");
      assert.equal(await waitForExit(daemon, EXIT_WAIT_MS), 0);

      // The final status was sent before the daemon exited.
      assert.equal(api.getJob(jobId)?.status, "Failed");
      const errors = logLines(api, jobId, "orchestrator", "Error").join("\n");
      assert.match(
        errors,
        /Job stopped because the orchestrator is shutting down/,
      );
      assertStatusLast(events, jobId, "Failed");
      // Whatever the job printed before the stop arrived once, in order.
      const lines = numberedLines(api, jobId);
      assert.ok(lines.length >= 5, `only ${lines.length} lines arrived`);
      assert.ok(lines.length < 50, "the job ran to its end before the stop");
      assert.deepEqual(lines, expectedLines(lines.length));
      assert.deepEqual(await containersOfJob(docker, jobId), []);
    } catch (error) {
      throw withDaemonOutput(error, daemons);
    } finally {
      for (const daemon of daemons) await killDaemon(daemon);
      await removeJobContainers(docker, jobId);
      await api.close();
      await Deno.remove(stateDirectory, { recursive: true });
    }
  },
});
