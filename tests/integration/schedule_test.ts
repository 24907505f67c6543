import assert from "node:assert/strict";
import { TEST_IMAGE } from "../support/jobs.ts";
import { logLines, waitForStatus, withHarness } from "../support/harness.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "scheduled job runs at the next minute",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      const job = api.addJob({
        name: "every minute",
        customer: "alpha",
        containerImage: TEST_IMAGE,
        jobType: "Scheduled",
        schedule: "* * * * *",
        parameters: { RUN: "echo tick" },
      });
      const registeredAt = Date.now();
      // The first fire is at the next whole minute, at most 60 s away.
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"], 90_000),
        "Completed",
      );
      const nextMinute = new Date(
        Math.floor(registeredAt / 60_000) * 60_000 + 60_000,
      );
      const notes = logLines(api, job.id, "orchestrator").join("\n");
      assert.match(
        notes,
        new RegExp(`for the scheduled time ${nextMinute.toISOString()}`),
      );
      assert.deepEqual(logLines(api, job.id, "container"), ["tick"]);
    }),
});

Deno.test({
  name: "scheduled job runs once per fire in Server mode",
  ...integration,
  fn: () =>
    withHarness(
      { settings: { "ScheduleSettings:Mode": "Server" } },
      async ({ api }) => {
        // The server sets the job back to Pending at each fire time, so the
        // orchestrator runs what it lists, as it runs a one-off job.
        const job = api.addJob({
          name: "server scheduled",
          customer: "alpha",
          containerImage: TEST_IMAGE,
          jobType: "Scheduled",
          schedule: "0 3 * * *",
          parameters: { RUN: "echo fired" },
        });
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
        );
        assert.deepEqual(logLines(api, job.id, "container"), ["fired"]);
        api.setJob(job.id, { status: "Pending" });
        await waitForStatus(api, job.id, ["Running"]);
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
        );
        assert.deepEqual(logLines(api, job.id, "container"), [
          "fired",
          "fired",
        ]);
      },
    ),
});

Deno.test({
  name: "scheduled job with a bad expression fails",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      const job = api.addJob({
        name: "bad schedule",
        customer: "alpha",
        containerImage: TEST_IMAGE,
        jobType: "Scheduled",
        schedule: "61 * * * *",
        parameters: { RUN: "echo never" },
      });
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Failed",
      );
      const notes = logLines(api, job.id, "orchestrator").join("\n");
      assert.match(notes, /61 \* \* \* \*/);
      assert.match(notes, /minute/);
      assert.deepEqual(logLines(api, job.id, "container"), []);
    }),
});
