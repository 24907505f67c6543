/**
 * The IAM API down while a job runs: every output line and the final status
 * wait in the outbox and arrive, in order, once the API responds again.
 */
import assert from "node:assert/strict";
import { waitUntil } from "../support/daemon_process.ts";
import { containersOfJob, withHarness } from "../support/harness.ts";
import {
  assertStatusLast,
  EventLog,
  expectedLines,
  integration,
  numberedLines,
  numberedScript,
  shellJob,
  statusChanges,
  waitForEnd,
  waitForLines,
  withCapturedLogs,
} from "./reliability_support.ts";

/** Length of the long outage, as the specification sets it, in ms. */
const OUTAGE_MS = 30_000;
/**
 * Maximum wait for the final status after the outage began, in ms: the
 * outage, the outbox sender's longest backoff (30 s by default) and
 * margin. A bound on the wait, not a measured duration.
 */
const END_WAIT_MS = OUTAGE_MS + 30_000 + 30_000;

Deno.test({
  name: "API down for 30 s delays but loses no output",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) => {
      const events = new EventLog();
      return withHarness(
        { api: { onEvent: events.onEvent } },
        async ({ api, docker, daemon }) => {
          const job = api.addJob(shellJob(numberedScript(60)));
          await waitForLines(api, job.id, 10);
          api.faults.add({ kind: "status", status: 503, forMs: OUTAGE_MS });
          const received = numberedLines(api, job.id).length;

          // The job ends inside the outage: the runner hands the final
          // status to the outbox and removes the container without
          // waiting for the API.
          await waitUntil(
            async () => (await containersOfJob(docker, job.id)).length === 0,
            "the job's container to be removed during the outage",
            OUTAGE_MS - 5_000,
          );
          assert.ok(api.faults.list().length === 1, "the outage ended early");
          assert.equal(api.getJob(job.id)?.status, "Running");
          assert.ok(numberedLines(api, job.id).length <= received + 1);
          assert.ok(daemon.store.outboxDepth() > 0);

          assert.equal(await waitForEnd(api, job.id, END_WAIT_MS), "Completed");
          assert.deepEqual(numberedLines(api, job.id), expectedLines(60));
          assert.deepEqual(statusChanges(events, job.id), [
            "Running",
            "Completed",
          ]);
          assertStatusLast(events, job.id, "Completed");
          await waitUntil(
            () => daemon.store.outboxDepth() === 0,
            "the outbox to empty",
          );
          const outboxWarnings = logs.problems().filter((message) =>
            /wait in the outbox/.test(message)
          );
          assert.equal(outboxWarnings.length, 1, logs.problems().join("\n"));
        },
      );
    }),
});

Deno.test({
  name: "API dropping connections for 3 s loses no output",
  ...integration,
  fn: () => {
    const events = new EventLog();
    return withHarness(
      { api: { onEvent: events.onEvent } },
      async ({ api }) => {
        const job = api.addJob(
          shellJob(numberedScript(40, { pauseSeconds: 0.05 })),
        );
        await waitForLines(api, job.id, 5);
        api.faults.add({ kind: "drop", forMs: 3_000 });
        assert.equal(await waitForEnd(api, job.id, 60_000), "Completed");
        assert.deepEqual(numberedLines(api, job.id), expectedLines(40));
        assertStatusLast(events, job.id, "Completed");
      },
    );
  },
});
