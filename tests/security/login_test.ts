import assert from "node:assert/strict";
import type { ReferenceApiEvent } from "../../src/reference_api/server.ts";
import { waitUntil } from "../support/daemon_process.ts";
import {
  containersOfJob,
  logLines,
  waitForStatus,
  withHarness,
} from "../support/harness.ts";
import {
  API_USER,
  countLogins,
  integration,
  secondGeneration,
  shellJob,
  withLogCapture,
} from "./security_support.ts";

/** Returns a script that prints `count` numbered lines, one every `pause` seconds. */
function numberedLines(count: number, pause: number): string {
  return `i=1; while [ $i -le ${count} ]; do echo "line $i"; ` +
    `i=$((i + 1)); sleep ${pause}; done`;
}

function expectedLines(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `line ${i + 1}`);
}

Deno.test({
  name: "login runs a job with a token",
  ...integration,
  fn: async () => {
    const events: ReferenceApiEvent[] = [];
    await withHarness(secondGeneration({ events }), async ({ api }) => {
      const job = api.addJob(shellJob("echo with a token"));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), ["with a token"]);
      assert.ok(countLogins(events, true) >= 1);
      assert.equal(countLogins(events, false), 0);
    });
  },
});

Deno.test({
  name: "login renews a short-lived token",
  ...integration,
  fn: async () => {
    const events: ReferenceApiEvent[] = [];
    // A 3 s token is renewed 0.3 s before it expires. Two jobs of
    // about 3 s each span at least two renewals.
    const options = secondGeneration({
      events,
      api: { tokenLifetimeSeconds: 3 },
    });
    await withHarness(options, async ({ api }) => {
      const first = api.addJob(shellJob(numberedLines(10, 0.3)));
      const second = api.addJob(shellJob(numberedLines(10, 0.3)));
      for (const job of [first, second]) {
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
        );
        assert.deepEqual(
          logLines(api, job.id, "container"),
          expectedLines(10),
        );
      }
      const logins = countLogins(events, true);
      assert.ok(logins >= 2, `expected 2 or more logins, got ${logins}`);
      assert.equal(countLogins(events, false), 0);
    });
  },
});

Deno.test({
  name: "login again after revoked tokens",
  ...integration,
  fn: async () => {
    const events: ReferenceApiEvent[] = [];
    await withHarness(secondGeneration({ events }), async ({ api }) => {
      const job = api.addJob(shellJob(numberedLines(20, 0.2)));
      await waitUntil(
        () => logLines(api, job.id, "container").length > 0,
        "the job's first output line",
      );
      const loginsBefore = countLogins(events, true);
      api.revokeTokens();

      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), expectedLines(20));
      assert.ok(
        events.some((event) => event.type === "unauthorized"),
        "no request was rejected with 401 after the revocation",
      );
      assert.ok(countLogins(events, true) > loginsBefore);
    });
  },
});

Deno.test({
  name: "login with a wrong password retries",
  ...integration,
  fn: async () => {
    const wrongPassword = "wrong-api-password-e27f05";
    const events: ReferenceApiEvent[] = [];
    const options = secondGeneration({
      events,
      password: wrongPassword,
      // Requests wait for the login, so a short timeout keeps shutdown short.
      settings: { "ApiSettings:RequestTimeoutSeconds": "2" },
    });
    await withLogCapture(async (capture) => {
      await withHarness(options, async ({ api, docker }) => {
        const job = api.addJob(shellJob("echo must not run"));
        // Backoff with full jitter waits up to 1 s, then 2 s, then 4 s.
        await waitUntil(
          () => countLogins(events, false) >= 3,
          "three failed logins",
          20_000,
        );
        assert.equal(countLogins(events, true), 0);
        assert.equal(api.getJob(job.id)?.status, "Pending");
        assert.deepEqual(api.logs(job.id), []);
        assert.deepEqual(await containersOfJob(docker, job.id), []);
      });
      const daemonLog = capture.text();
      assert.match(
        daemonLog,
        /Login to the IAM API as iam-orchestrator failed/,
      );
      assert.ok(
        !daemonLog.includes(wrongPassword),
        "the daemon logged the wrong password",
      );
      assert.ok(!daemonLog.includes(API_USER.password));
    });
  },
});
