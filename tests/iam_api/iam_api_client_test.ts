import assert from "node:assert/strict";
import { IamApiClient } from "../../src/iam_api/iam_api_client.ts";
import type { ScheduledJobKey } from "../../src/iam_api/job.ts";
import { startReferenceApi } from "../../src/reference_api/server.ts";

const IMAGE = "busybox:latest";

Deno.test("getPendingJobs skips known scheduled jobs unparsed", async () => {
  const api = await startReferenceApi();
  try {
    const known = api.addJob({
      name: "known",
      containerImage: IMAGE,
      jobType: "Scheduled",
      schedule: "0 0 1 1 *",
      isPaused: true,
    });
    const changed = api.addJob({
      name: "changed",
      containerImage: IMAGE,
      jobType: "Scheduled",
      schedule: "*/5 * * * *",
    });
    const oneOff = api.addJob({
      name: "one-off",
      containerImage: IMAGE,
    });
    const client = new IamApiClient({ baseUrl: api.url });
    const checked: ScheduledJobKey[] = [];
    const pending = await client.getPendingJobs(null, "orchestrator-1", {
      isKnown: (job) => {
        checked.push(job);
        return job.id === known.id ||
          (job.id === changed.id && job.schedule === "0 * * * *");
      },
    });
    const listed = pending.jobs.map((job) => job.id).sort();
    assert.deepEqual(listed, [changed.id, oneOff.id].sort());
    assert.deepEqual(
      checked.map((job) => job.schedule).sort(),
      ["*/5 * * * *", "0 0 1 1 *"],
    );
    assert.deepEqual(pending.malformed, []);
  } finally {
    await api.close();
  }
});

Deno.test("getPendingJobs without isKnown parses every job", async () => {
  const api = await startReferenceApi();
  try {
    const scheduled = api.addJob({
      containerImage: IMAGE,
      jobType: "Scheduled",
      schedule: "0 0 1 1 *",
    });
    const client = new IamApiClient({ baseUrl: api.url });
    const pending = await client.getPendingJobs(null, "orchestrator-1");
    assert.deepEqual(pending.jobs.map((job) => job.id), [scheduled.id]);
    assert.equal(pending.jobs[0].schedule, "0 0 1 1 *");
  } finally {
    await api.close();
  }
});
