/**
 * Bad responses and bad jobs from the IAM API. For each one the daemon logs
 * one clear line, fails a job that has an id on the API with the reason in
 * its log, and keeps running: a good job added afterwards completes.
 */
import assert from "node:assert/strict";
import type { ReferenceApi } from "../../src/reference_api/server.ts";
import { waitUntil } from "../support/daemon_process.ts";
import { logLines, withHarness } from "../support/harness.ts";
import {
  type CapturedLogs,
  integration,
  shellJob,
  waitForEnd,
  withCapturedLogs,
  withProxiedHarness,
} from "./reliability_support.ts";

/** Maximum wait for one job of these tests, in ms. */
const JOB_WAIT_MS = 30_000;

/** Adds a job that prints one line and asserts that it completes. */
async function assertGoodJobRuns(api: ReferenceApi): Promise<void> {
  const job = api.addJob(shellJob("echo good"));
  assert.equal(await waitForEnd(api, job.id, JOB_WAIT_MS), "Completed");
  assert.deepEqual(logLines(api, job.id, "container"), ["good"]);
}

/**
 * Asserts that exactly one warning or error matches `pattern` and returns
 * it, so a test can check more of its wording.
 */
function assertOneProblem(logs: CapturedLogs, pattern: RegExp): string {
  const matching = logs.problems().filter((message) => pattern.test(message));
  assert.equal(
    matching.length,
    1,
    `expected one warning or error matching ${pattern}, got:\n` +
      logs.problems().join("\n"),
  );
  return matching[0];
}

/** Asserts that the job failed on the API with `reason` in its log. */
async function assertJobFailed(
  api: ReferenceApi,
  jobId: string,
  reason: RegExp,
): Promise<void> {
  assert.equal(await waitForEnd(api, jobId, JOB_WAIT_MS), "Failed");
  const errors = logLines(api, jobId, "orchestrator", "Error").join("\n");
  assert.match(errors, reason);
  assert.deepEqual(logLines(api, jobId, "container"), []);
}

/** Waits until the fault rules of the API are used up. */
async function waitForFaultsUsed(api: ReferenceApi): Promise<void> {
  await waitUntil(
    () => api.faults.list().length === 0,
    "the fault rules to be used up",
    JOB_WAIT_MS,
  );
}

/** Posts a job as raw JSON, as a server could store it, and returns its id. */
async function postRawJob(
  api: ReferenceApi,
  job: Record<string, unknown>,
): Promise<string> {
  const response = await fetch(`${api.url}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(job),
  });
  const created = await response.json() as { id: string };
  assert.equal(response.status, 201, JSON.stringify(created));
  return created.id;
}

const PENDING = "/api/jobs/pending";

Deno.test({
  name: "daemon survives garbage pending response",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        api.faults.add({ path: PENDING, kind: "garbage", count: 3 });
        await waitForFaultsUsed(api);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /Polling for pending jobs failed/);
        assert.match(line, /responded 200 with text that is not JSON/);
      })
    ),
});

Deno.test({
  name: "daemon survives object pending response",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withProxiedHarness({}, async ({ api, proxy }) => {
        let left = 3;
        proxy.rewrite = () => left-- > 0 ? '{"jobs": []}' : null;
        await waitUntil(() => left <= 0, "three rewritten responses");
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /Polling for pending jobs failed/);
        assert.match(line, /JSON that is not an array: \{"jobs": \[\]\}/);
      })
    ),
});

Deno.test({
  name: "daemon survives HTML pending response",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        api.faults.add({ path: PENDING, kind: "html", count: 3 });
        await waitForFaultsUsed(api);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /Polling for pending jobs failed/);
        assert.match(line, /responded 502 with "<!DOCTYPE html>/);
      })
    ),
});

Deno.test({
  name: "daemon survives redirected pending response",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        api.faults.add({ path: PENDING, kind: "redirect", count: 3 });
        await waitForFaultsUsed(api);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /Polling for pending jobs failed/);
        assert.match(line, /responded 302, a redirect to \/Account\/Login/);
        assert.match(line, /check ApiSettings:BaseUrl/);
      })
    ),
});

Deno.test({
  name: "daemon survives 50 MB pending response",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        api.faults.add({
          path: PENDING,
          kind: "huge",
          bytes: 50 * 1024 * 1024,
          count: 1,
        });
        await waitForFaultsUsed(api);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /Polling for pending jobs failed/);
        assert.match(line, /larger than the limit of 16777216/);
      })
    ),
});

Deno.test({
  name: "daemon survives endless pending response",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness(
        { settings: { "ApiSettings:RequestTimeoutSeconds": "2" } },
        async ({ api }) => {
          api.faults.add({ path: PENDING, kind: "hang", count: 1 });
          await waitForFaultsUsed(api);
          await assertGoodJobRuns(api);
          const line = assertOneProblem(
            logs,
            /Polling for pending jobs failed/,
          );
          assert.match(line, /timed out/);
        },
      )
    ),
});

Deno.test({
  name: "daemon survives job without an id",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withProxiedHarness({}, async ({ api, proxy }) => {
        // The server keeps listing the broken record, as nothing can fail
        // a job without an id.
        proxy.rewrite = (jobs) =>
          JSON.stringify([
            { name: "no id", containerImage: "x", jobType: "OneOff" },
            ...jobs,
          ]);
        await waitUntil(() => proxy.rewritten >= 5, "five rewritten responses");
        await assertGoodJobRuns(api);
        // The record comes back at every poll; it is logged once.
        const line = assertOneProblem(logs, /^Ignoring/);
        assert.match(line, /\bid: /);
      })
    ),
});

Deno.test({
  name: "daemon survives job listed twice",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withProxiedHarness({}, async ({ api, proxy }) => {
        proxy.rewrite = (jobs) =>
          jobs.length === 0 ? null : JSON.stringify([...jobs, ...jobs]);
        const job = api.addJob(shellJob("echo twice; sleep 1"));
        assert.equal(await waitForEnd(api, job.id, JOB_WAIT_MS), "Completed");
        assert.deepEqual(logLines(api, job.id, "container"), ["twice"]);
        const notes = logLines(api, job.id, "orchestrator").join("\n");
        assert.equal(notes.match(/Container [0-9a-f]{12} started/g)?.length, 1);
        const line = assertOneProblem(logs, /listed twice/);
        assert.match(line, new RegExp(job.id));
        // The record has an id, so the line must not claim it has none.
        assert.doesNotMatch(line, /without an id/);
        proxy.rewrite = null;
        await assertGoodJobRuns(api);
      })
    ),
});

Deno.test({
  name: "daemon fails job with an unknown jobType",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        // The store keeps values it does not know, as a newer server might.
        const bad = api.addJob({
          ...shellJob("echo never"),
          jobType: "Weekly" as "OneOff",
        });
        await assertJobFailed(api, bad.id, /jobType "Weekly" is unknown/);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /is malformed and fails/);
        assert.match(line, new RegExp(bad.id));
        assert.match(line, /jobType "Weekly" is unknown/);
      })
    ),
});

Deno.test({
  name: "daemon fails job with an unknown status",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withProxiedHarness({}, async ({ api, proxy }) => {
        const bad = api.addJob(shellJob("echo never"));
        // The reference API lists only Pending jobs, so the proxy renames
        // the status on the way.
        proxy.rewrite = (jobs) =>
          JSON.stringify(
            jobs.map((job) =>
              job.id === bad.id ? { ...job, status: "Queued" } : job
            ),
          );
        await assertJobFailed(api, bad.id, /status "Queued" is unknown/);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /is malformed and fails/);
        assert.match(line, /status "Queued" is unknown/);
      })
    ),
});

Deno.test({
  name: "daemon fails job with an integer jobType",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        const id = await postRawJob(api, {
          ...shellJob("echo never"),
          jobType: 0,
        });
        await assertJobFailed(api, id, /jobType is the number 0/);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /is malformed and fails/);
        assert.match(line, /must send it as a string/);
      })
    ),
});

Deno.test({
  name: "daemon fails job with 1 MB of parameters",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        // Linux limits one environment string to 128 KiB, so the engine
        // creates the container but cannot start its entry point.
        const bad = api.addJob(shellJob("echo never", {
          parameters: { RUN: "echo never", LARGE: "x".repeat(1024 * 1024) },
        }));
        assert.equal(await waitForEnd(api, bad.id, JOB_WAIT_MS), "Failed");
        const errors = logLines(api, bad.id, "container", "Error").join("\n");
        assert.match(errors, /argument list too long/);
        assert.match(
          logLines(api, bad.id, "orchestrator").join("\n"),
          /Container exited with code 1/,
        );
        await assertGoodJobRuns(api);
        const lines = logs.messages().filter((message) =>
          /Container exited with code 1/.test(message)
        );
        assert.equal(lines.length, 1, logs.messages().join("\n"));
      })
    ),
});

Deno.test({
  name: "daemon fails job with an invalid image reference",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        const bad = api.addJob(
          shellJob("echo never", { containerImage: "Bad Image::ref//" }),
        );
        await assertJobFailed(
          api,
          bad.id,
          /Invalid image reference "Bad Image::ref\/\/"/,
        );
        await assertGoodJobRuns(api);
        assertOneProblem(logs, /Invalid image reference "Bad Image::ref\/\/"/);
      })
    ),
});

Deno.test({
  name: "daemon fails job with an invalid schedule",
  ...integration,
  fn: () =>
    withCapturedLogs((logs) =>
      withHarness({}, async ({ api }) => {
        const bad = api.addJob(
          shellJob("echo never", {
            jobType: "Scheduled",
            schedule: "61 * * * *",
          }),
        );
        await assertJobFailed(api, bad.id, /minute "61" is out of range/);
        await assertGoodJobRuns(api);
        const line = assertOneProblem(logs, /has an invalid schedule/);
        assert.match(line, new RegExp(bad.id));
        assert.match(line, /Invalid cron expression "61 \* \* \* \*"/);
      })
    ),
});
