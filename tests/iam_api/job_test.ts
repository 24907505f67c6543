import assert from "node:assert/strict";
import { parseJob, peekScheduledJob } from "../../src/iam_api/job.ts";

const ID = "6f1c7f36-2d3e-4a8e-9c1b-1f0a5e2b7a11";

function record(overrides: Record<string, unknown> = {}) {
  return {
    id: ID,
    name: "Provision",
    customer: "alpha",
    scriptPath: "/scripts/a.ps1",
    containerImage: "host:5000/pwsh:7",
    parameters: { USERS: "ada" },
    jobType: "OneOff",
    isWhatIf: true,
    isPaused: false,
    schedule: null,
    status: "Pending",
    createdAt: "2026-01-02T03:04:05Z",
    ...overrides,
  };
}

Deno.test("parseJob reads a camelCase job", () => {
  const result = parseJob(record());
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.equal(result.job.id, ID);
  assert.equal(result.job.containerImage, "host:5000/pwsh:7");
  assert.equal(result.job.isWhatIf, true);
  assert.deepEqual(result.job.parameters, { USERS: "ada" });
  assert.equal(result.job.createdAt?.toISOString(), "2026-01-02T03:04:05.000Z");
  assert.equal(result.job.registryPassword, null);
});

Deno.test("parseJob reads PascalCase names and enum case", () => {
  const result = parseJob({
    Id: ID,
    ContainerImage: "busybox",
    JobType: "scheduled",
    Status: "PENDING",
    Schedule: "*/5 * * * *",
  });
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.equal(result.job.jobType, "Scheduled");
  assert.equal(result.job.status, "Pending");
  assert.equal(result.job.schedule, "*/5 * * * *");
});

Deno.test("parseJob reads a time without offset as UTC", () => {
  const result = parseJob(record({ startedAt: "2026-01-02T03:04:05.123" }));
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.equal(result.job.startedAt?.toISOString(), "2026-01-02T03:04:05.123Z");
});

Deno.test("parseJob rejects an integer enum with the id", () => {
  const result = parseJob(record({ jobType: 1 }));
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.id, ID);
  assert.match(result.reason, /jobType is the number 1/);
});

Deno.test("parseJob rejects a job without id", () => {
  const result = parseJob(record({ id: undefined }));
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.equal(result.id, null);
});

Deno.test("parseJob rejects wrong types and unknown enums", () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ parameters: { A: 1 } }, /parameters/],
    [{ isWhatIf: "yes" }, /isWhatIf/],
    [{ status: "Queued" }, /status "Queued" is unknown/],
    [{ jobType: "Recurring" }, /jobType "Recurring" is unknown/],
    [{ containerImage: "" }, /containerImage/],
    [{ createdAt: "yesterday" }, /not an ISO 8601 time/],
  ];
  for (const [overrides, pattern] of cases) {
    const result = parseJob(record(overrides));
    assert.equal(result.ok, false, JSON.stringify(overrides));
    if (result.ok) continue;
    assert.match(result.reason, pattern);
    assert.equal(result.id, ID);
  }
});

Deno.test("parseJob rejects a value that is not an object", () => {
  for (const value of [null, 3, "job", [record()]]) {
    const result = parseJob(value);
    assert.equal(result.ok, false);
  }
});

Deno.test("peekScheduledJob reads id and schedule of any case", () => {
  assert.deepEqual(
    peekScheduledJob({
      ID: `{${ID}}`,
      JobType: "scheduled",
      Status: "SCHEDULED",
      Schedule: "0 * * * *",
      containerImage: 42,
    }),
    { id: ID, schedule: "0 * * * *" },
  );
  assert.deepEqual(
    peekScheduledJob(record({ jobType: "Scheduled", schedule: undefined })),
    { id: ID, schedule: null },
  );
});

Deno.test("peekScheduledJob returns null for other records", () => {
  const cases: unknown[] = [
    null,
    [],
    record(),
    record({ jobType: "Scheduled", id: "not-a-guid" }),
    record({ jobType: "Scheduled", status: "Running" }),
    record({ jobType: "Scheduled", schedule: 5 }),
    record({ jobType: 1 }),
  ];
  for (const value of cases) {
    assert.equal(peekScheduledJob(value), null, JSON.stringify(value));
  }
});
