import assert from "node:assert/strict";
import { JobStore } from "../../src/reference_api/job_store.ts";

const NOW = Date.parse("2026-03-01T12:00:00Z");

Deno.test("JobStore.add converts Date times to ISO", () => {
  const store = new JobStore();
  const job = store.add({ scheduledFor: new Date(NOW) }, NOW);
  assert.equal(job.scheduledFor, "2026-03-01T12:00:00.000Z");
  assert.equal(job.createdAt, "2026-03-01T12:00:00.000Z");
});

Deno.test("JobStore.add keeps unknown properties", () => {
  const store = new JobStore();
  const job = store.add({ extraField: 1 }, NOW) as unknown as Record<
    string,
    unknown
  >;
  assert.equal(job.extraField, 1);
});

Deno.test("JobStore.get ignores braces and case", () => {
  const store = new JobStore();
  const job = store.add({}, NOW);
  assert.equal(store.get(`{${job.id.toUpperCase()}}`), job);
});

Deno.test("JobStore.setStatus stamps and requeues", () => {
  const store = new JobStore();
  const job = store.add({ assignedToOrchestratorId: "o1" }, NOW);
  store.setStatus(job, "Running", NOW);
  assert.equal(job.startedAt, "2026-03-01T12:00:00.000Z");
  store.setStatus(job, "Failed", NOW + 1000);
  assert.equal(job.completedAt, "2026-03-01T12:00:01.000Z");
  assert.equal(job.assignedToOrchestratorId, "o1");
  store.setStatus(job, "Pending", NOW + 2000);
  assert.equal(job.assignedToOrchestratorId, null);
});

Deno.test("JobStore.pending ignores paused flag", () => {
  const store = new JobStore();
  store.add({ isPaused: true }, NOW);
  const { jobs } = store.pending({
    customer: null,
    orchestratorId: null,
    now: NOW,
  });
  assert.equal(jobs.length, 1);
});

Deno.test("JobStore.pending leaves another orchestrator's job", () => {
  const store = new JobStore();
  store.add({ customer: "alpha", assignedToOrchestratorId: "o2" }, NOW);
  const selection = store.pending({
    customer: "alpha",
    orchestratorId: "o1",
    now: NOW,
  });
  assert.deepEqual(selection.jobs, []);
  assert.equal(selection.assigned, null);
});
