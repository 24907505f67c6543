import assert from "node:assert/strict";
// @ts-types="@types/sinonjs__fake-timers"
import FakeTimers from "@sinonjs/fake-timers";
import { getLogger } from "@logtape/logtape";
import type { Job } from "../../src/iam_api/job.ts";
import {
  type OverlapPolicy,
  Scheduler,
  type SchedulerLogger,
  type SkipReason,
} from "../../src/scheduling/scheduler.ts";
import {
  MemoryScheduleStore,
  type ScheduleStore,
} from "../../src/scheduling/schedule_store.ts";

const JOB_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    id: JOB_ID,
    name: "Nightly licence report",
    customer: "contoso",
    scriptPath: "scripts/licence_report.ps1",
    containerImage: "registry.example.test/iam/report:1.4",
    registryServer: null,
    registryUsername: null,
    registryPassword: null,
    parameters: { Tenant: "contoso" },
    jobType: "Scheduled",
    isWhatIf: false,
    isPaused: false,
    schedule: "0 * * * *",
    status: "Scheduled",
    createdAt: new Date("2023-12-01T00:00:00Z"),
    startedAt: null,
    completedAt: null,
    scheduledFor: null,
    assignedToOrchestratorId: null,
    ...overrides,
  };
}

interface LogLine {
  level: string;
  message: string;
  properties: Record<string, unknown>;
}

/** A scheduler over an in-memory API: `jobs` is what fetchJob returns. */
function makeHarness(
  options: {
    store?: ScheduleStore;
    timeZone?: string;
    overlapPolicy?: OverlapPolicy;
    catchUpWindowSeconds?: number;
  } = {},
) {
  const jobs = new Map<string, Job>();
  const dispatched: Array<{ jobId: string; fireTime: string }> = [];
  const failed: Array<{ jobId: string; reason: string }> = [];
  const skips: Array<{ jobId: string; reason: SkipReason }> = [];
  const running = new Set<string>();
  const logs: LogLine[] = [];
  const fetchFailures = { remaining: 0 };
  const store = options.store ?? new MemoryScheduleStore();

  const record =
    (level: string) =>
    (message: string, properties: Record<string, unknown> = {}) => {
      logs.push({ level, message, properties });
    };
  const logger: SchedulerLogger = {
    debug: record("debug"),
    info: record("info"),
    warn: record("warn"),
    error: record("error"),
  };

  const scheduler = new Scheduler({
    fetchJob: (id) => {
      if (fetchFailures.remaining > 0) {
        fetchFailures.remaining--;
        return Promise.reject(new Error("IAM API returned 503"));
      }
      const job = jobs.get(id);
      return Promise.resolve(job === undefined ? null : { ...job });
    },
    dispatch: (job, fireTime) => {
      dispatched.push({ jobId: job.id, fireTime: fireTime.toISOString() });
    },
    isRunning: (jobId) => running.has(jobId),
    failJob: (jobId, reason) => {
      failed.push({ jobId, reason });
      return Promise.resolve();
    },
    store,
    logger,
    onSkip: (jobId, reason) => skips.push({ jobId, reason }),
    ...options,
  });

  return {
    scheduler,
    jobs,
    dispatched,
    failed,
    skips,
    running,
    logs,
    store,
    fetchFailures,
  };
}

function fireTimes(dispatched: Array<{ fireTime: string }>): string[] {
  return dispatched.map((entry) => entry.fireTime);
}

function installClock(now: string) {
  return FakeTimers.install({
    now: Date.parse(now),
    toFake: ["setTimeout", "clearTimeout", "Date"],
  });
}

Deno.test("Scheduler accepts a logtape logger", () => {
  const logger: SchedulerLogger = getLogger(["iam-orchestrator", "test"]);
  assert.equal(typeof logger.info, "function");
});

Deno.test("Scheduler fires at the expression's times", async () => {
  const clock = installClock("2024-01-01T00:00:30Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);

    assert.equal(await h.scheduler.register(job), "added");
    assert.equal(h.scheduler.size, 1);
    assert.equal(
      h.scheduler.nextFireTime(job.id)?.toISOString(),
      "2024-01-01T01:00:00.000Z",
    );

    await clock.tickAsync(HOUR - 30_001);
    assert.equal(h.dispatched.length, 0);
    await clock.tickAsync(1);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T01:00:00.000Z"]);
    assert.equal(h.dispatched[0].jobId, job.id);

    await clock.tickAsync(2 * HOUR);
    assert.deepEqual(fireTimes(h.dispatched), [
      "2024-01-01T01:00:00.000Z",
      "2024-01-01T02:00:00.000Z",
      "2024-01-01T03:00:00.000Z",
    ]);
    const [stored] = h.store.listSchedules();
    assert.equal(stored.lastFireAt?.toISOString(), "2024-01-01T03:00:00.000Z");
    assert.equal(stored.expression, "0 * * * *");
    assert.equal(stored.timeZone, "UTC");
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler reads schedules in its time zone", async () => {
  const clock = installClock("2024-01-01T00:00:00Z");
  try {
    const h = makeHarness({ timeZone: "Europe/Oslo" });
    const job = makeJob({ schedule: "0 9 * * *" });
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    await clock.tickAsync(24 * HOUR);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T08:00:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler fires once on DST days in New York", async () => {
  const clock = installClock("2026-03-07T12:00:00Z");
  try {
    const h = makeHarness({ timeZone: "America/New_York" });
    const job = makeJob({ schedule: "30 2 * * *" });
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    await clock.tickAsync(2 * 24 * HOUR);
    assert.deepEqual(fireTimes(h.dispatched), [
      "2026-03-08T07:00:00.000Z",
      "2026-03-09T06:30:00.000Z",
    ]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler fires once in a repeated hour", async () => {
  const clock = installClock("2026-10-31T12:00:00Z");
  try {
    const h = makeHarness({ timeZone: "America/New_York" });
    const job = makeJob({ schedule: "30 1 * * *" });
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    await clock.tickAsync(2 * 24 * HOUR);
    assert.deepEqual(fireTimes(h.dispatched), [
      "2026-11-01T05:30:00.000Z",
      "2026-11-02T06:30:00.000Z",
    ]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler skips a fire while the job is paused", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);

    h.jobs.set(job.id, { ...job, isPaused: true });
    await clock.tickAsync(30 * MINUTE);
    assert.equal(h.dispatched.length, 0);
    assert.equal(h.scheduler.skippedFires.paused, 1);
    assert.deepEqual(h.skips, [{ jobId: job.id, reason: "paused" }]);
    const pausedLog = h.logs.find((line) => line.message.includes("paused"));
    assert.ok(pausedLog, "a log line says the fire was skipped as paused");
    assert.equal(pausedLog.properties.jobId, job.id);
    assert.equal(h.scheduler.size, 1);

    // Resuming needs no new registration: the next fire fetches again.
    h.jobs.set(job.id, { ...job, isPaused: false });
    await clock.tickAsync(HOUR);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T02:00:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler unregisters a deleted job", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    assert.equal(h.store.listSchedules().length, 1);

    h.jobs.delete(job.id);
    await clock.tickAsync(30 * MINUTE);
    assert.equal(h.dispatched.length, 0);
    assert.equal(h.scheduler.size, 0);
    assert.equal(h.scheduler.skippedFires.deleted, 1);
    assert.deepEqual(h.store.listSchedules(), []);
    assert.equal(clock.countTimers(), 0);
    assert.ok(h.logs.some((line) => line.message.includes("no longer exists")));
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler reschedules on a changed schedule", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);

    h.jobs.set(job.id, { ...job, schedule: "45 * * * *" });
    await clock.tickAsync(30 * MINUTE);
    assert.equal(h.dispatched.length, 0, "the 01:00 fire of the old schedule");
    assert.equal(
      h.scheduler.nextFireTime(job.id)?.toISOString(),
      "2024-01-01T01:45:00.000Z",
    );
    assert.equal(h.store.listSchedules()[0].expression, "45 * * * *");

    await clock.tickAsync(45 * MINUTE);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T01:45:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler skips a fire while a run goes on", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);

    h.running.add(job.id);
    await clock.tickAsync(30 * MINUTE);
    assert.equal(h.dispatched.length, 0);
    assert.equal(h.scheduler.skippedFires.overlap, 1);
    assert.ok(
      h.logs.some((line) => line.message.includes("still in progress")),
    );

    h.running.delete(job.id);
    await clock.tickAsync(HOUR);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T02:00:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler runs overlapping fires with Allow", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness({ overlapPolicy: "Allow" });
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    h.running.add(job.id);
    await clock.tickAsync(30 * MINUTE);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T01:00:00.000Z"]);
    assert.equal(h.scheduler.skippedFires.overlap, 0);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler skips a fire when fetching fails", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    h.fetchFailures.remaining = 1;
    await clock.tickAsync(30 * MINUTE);
    assert.equal(h.dispatched.length, 0);
    assert.equal(h.scheduler.skippedFires["fetch-failed"], 1);
    assert.ok(h.logs.some((line) => line.level === "error"));
    await clock.tickAsync(HOUR);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T02:00:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler register of the same job is idempotent", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    assert.equal(await h.scheduler.register(job), "added");
    assert.equal(await h.scheduler.register({ ...job }), "unchanged");
    assert.equal(
      await h.scheduler.register({ ...job, schedule: " 0 * * * * " }),
      "unchanged",
    );
    assert.equal(clock.countTimers(), 1);

    await clock.tickAsync(30 * MINUTE);
    // The poller registers the job again at the instant of the fire.
    assert.equal(await h.scheduler.register({ ...job }), "unchanged");
    await clock.tickAsync(0);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T01:00:00.000Z"]);

    await clock.tickAsync(HOUR - 1);
    assert.equal(await h.scheduler.register({ ...job }), "unchanged");
    await clock.tickAsync(1);
    assert.deepEqual(fireTimes(h.dispatched), [
      "2024-01-01T01:00:00.000Z",
      "2024-01-01T02:00:00.000Z",
    ]);
    assert.equal(h.scheduler.size, 1);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler register reschedules a new expression", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    const changed = { ...job, schedule: "50 * * * *" };
    h.jobs.set(job.id, changed);
    assert.equal(await h.scheduler.register(changed), "rescheduled");
    assert.equal(clock.countTimers(), 1);
    await clock.tickAsync(HOUR);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T00:50:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler fails a job with an invalid schedule", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob({ schedule: "0 0 9 * * *" });
    assert.equal(await h.scheduler.register(job), "rejected");
    assert.equal(h.scheduler.size, 0);
    assert.equal(clock.countTimers(), 0);
    assert.deepEqual(h.store.listSchedules(), []);
    assert.equal(h.failed.length, 1);
    assert.equal(h.failed[0].jobId, job.id);
    assert.match(h.failed[0].reason, /"0 0 9 \* \* \*"/);

    const badField = makeJob({ schedule: "0 0 * * Funday" });
    assert.equal(await h.scheduler.register(badField), "rejected");
    assert.match(h.failed[1].reason, /"0 0 \* \* Funday"/);
    assert.match(h.failed[1].reason, /day of week/);
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler register survives a failing failJob", async () => {
  const store = new MemoryScheduleStore();
  const scheduler = new Scheduler({
    fetchJob: () => Promise.resolve(null),
    dispatch: () => {},
    isRunning: () => false,
    failJob: () => Promise.reject(new Error("IAM API returned 500")),
    store,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const result = await scheduler.register(makeJob({ schedule: "61 * * * *" }));
  assert.equal(result, "rejected");
});

Deno.test("Scheduler rejects a job that is not scheduled", async () => {
  const h = makeHarness();
  await assert.rejects(
    () => h.scheduler.register(makeJob({ jobType: "OneOff", schedule: null })),
    TypeError,
  );
});

Deno.test("Scheduler caps timers at one hour", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob({ schedule: "0 0 1 1 *" });
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    assert.equal(clock.countTimers(), 1);
    await clock.tickAsync(HOUR);
    assert.equal(clock.countTimers(), 1, "re-armed after the capped wait");
    assert.equal(h.dispatched.length, 0);
    await clock.tickAsync(366 * 24 * HOUR);
    assert.deepEqual(fireTimes(h.dispatched), ["2025-01-01T00:00:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler stop clears timers and keeps records", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    h.scheduler.stop();
    assert.equal(clock.countTimers(), 0);
    await clock.tickAsync(2 * HOUR);
    assert.equal(h.dispatched.length, 0);
    assert.equal(h.store.listSchedules().length, 1);
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler unregister removes timer and record", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const h = makeHarness();
    const job = makeJob();
    h.jobs.set(job.id, job);
    await h.scheduler.register(job);
    assert.equal(h.scheduler.unregister(job.id), true);
    assert.equal(h.scheduler.unregister(job.id), false);
    assert.equal(clock.countTimers(), 0);
    assert.deepEqual(h.store.listSchedules(), []);
    await clock.tickAsync(2 * HOUR);
    assert.equal(h.dispatched.length, 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler restore continues after a restart", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const store = new MemoryScheduleStore();
    const first = makeHarness({ store });
    const job = makeJob();
    first.jobs.set(job.id, job);
    await first.scheduler.register(job);
    await clock.tickAsync(30 * MINUTE);
    assert.deepEqual(fireTimes(first.dispatched), ["2024-01-01T01:00:00.000Z"]);
    first.scheduler.stop();

    // Down from 01:10 to 02:20: the 02:00 fire is missed and not caught up.
    await clock.tickAsync(80 * MINUTE);
    const second = makeHarness({ store });
    second.jobs.set(job.id, job);
    await second.scheduler.restore();
    assert.equal(second.scheduler.size, 1);
    assert.equal(
      second.scheduler.nextFireTime(job.id)?.toISOString(),
      "2024-01-01T03:00:00.000Z",
    );
    await clock.tickAsync(40 * MINUTE);
    assert.deepEqual(fireTimes(second.dispatched), [
      "2024-01-01T03:00:00.000Z",
    ]);
    assert.equal(
      store.listSchedules()[0].lastFireAt?.toISOString(),
      "2024-01-01T03:00:00.000Z",
    );

    // A job seen again by the poller after restore keeps its timer.
    assert.equal(await second.scheduler.register(job), "unchanged");
    second.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler restore drops deleted jobs", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const store = new MemoryScheduleStore();
    store.saveSchedule({
      jobId: JOB_ID,
      expression: "0 * * * *",
      timeZone: "UTC",
      lastFireAt: null,
    });
    const h = makeHarness({ store });
    await h.scheduler.restore();
    assert.equal(h.scheduler.size, 0);
    assert.deepEqual(store.listSchedules(), []);
    assert.equal(clock.countTimers(), 0);
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler restore reschedules a changed schedule", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const store = new MemoryScheduleStore();
    store.saveSchedule({
      jobId: JOB_ID,
      expression: "0 * * * *",
      timeZone: "UTC",
      lastFireAt: new Date("2024-01-01T00:00:00Z"),
    });
    const h = makeHarness({ store, catchUpWindowSeconds: 3600 });
    h.jobs.set(JOB_ID, makeJob({ schedule: "40 * * * *" }));
    await h.scheduler.restore();
    assert.equal(h.scheduler.size, 1);
    assert.equal(store.listSchedules()[0].expression, "40 * * * *");
    await clock.tickAsync(0);
    assert.equal(h.dispatched.length, 0, "no catch-up for a changed schedule");
    await clock.tickAsync(10 * MINUTE);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T00:40:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler restore keeps a job it cannot fetch", async () => {
  const clock = installClock("2024-01-01T00:30:00Z");
  try {
    const store = new MemoryScheduleStore();
    store.saveSchedule({
      jobId: JOB_ID,
      expression: "0 * * * *",
      timeZone: "UTC",
      lastFireAt: null,
    });
    const h = makeHarness({ store });
    h.jobs.set(JOB_ID, makeJob());
    h.fetchFailures.remaining = 1;
    await h.scheduler.restore();
    assert.equal(h.scheduler.size, 1);
    await clock.tickAsync(30 * MINUTE);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T01:00:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler catches up one fire inside the window", async () => {
  const clock = installClock("2024-01-01T02:10:00Z");
  try {
    const store = new MemoryScheduleStore();
    store.saveSchedule({
      jobId: JOB_ID,
      expression: "0 * * * *",
      timeZone: "UTC",
      lastFireAt: new Date("2024-01-01T00:00:00Z"),
    });
    // 01:00 and 02:00 were missed; only 02:00 is within 15 minutes.
    const h = makeHarness({ store, catchUpWindowSeconds: 15 * 60 });
    h.jobs.set(JOB_ID, makeJob());
    await h.scheduler.restore();
    await clock.tickAsync(0);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T02:00:00.000Z"]);
    assert.equal(
      h.scheduler.nextFireTime(JOB_ID)?.toISOString(),
      "2024-01-01T03:00:00.000Z",
    );
    await clock.tickAsync(50 * MINUTE);
    assert.deepEqual(fireTimes(h.dispatched), [
      "2024-01-01T02:00:00.000Z",
      "2024-01-01T03:00:00.000Z",
    ]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler catches up nothing outside the window", async () => {
  const clock = installClock("2024-01-01T02:20:00Z");
  try {
    const store = new MemoryScheduleStore();
    store.saveSchedule({
      jobId: JOB_ID,
      expression: "0 * * * *",
      timeZone: "UTC",
      lastFireAt: new Date("2024-01-01T00:00:00Z"),
    });
    const h = makeHarness({ store, catchUpWindowSeconds: 10 * 60 });
    h.jobs.set(JOB_ID, makeJob());
    await h.scheduler.restore();
    await clock.tickAsync(0);
    assert.equal(h.dispatched.length, 0);
    await clock.tickAsync(40 * MINUTE);
    assert.deepEqual(fireTimes(h.dispatched), ["2024-01-01T03:00:00.000Z"]);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler does not catch up the last handled fire", async () => {
  const clock = installClock("2024-01-01T02:05:00Z");
  try {
    const store = new MemoryScheduleStore();
    store.saveSchedule({
      jobId: JOB_ID,
      expression: "0 * * * *",
      timeZone: "UTC",
      lastFireAt: new Date("2024-01-01T02:00:00Z"),
    });
    const h = makeHarness({ store, catchUpWindowSeconds: 3600 });
    h.jobs.set(JOB_ID, makeJob());
    await h.scheduler.restore();
    await clock.tickAsync(0);
    assert.equal(h.dispatched.length, 0);
    h.scheduler.stop();
  } finally {
    clock.uninstall();
  }
});

Deno.test("Scheduler rejects bad options", () => {
  const base = {
    fetchJob: () => Promise.resolve(null),
    dispatch: () => {},
    isRunning: () => false,
    failJob: () => Promise.resolve(),
    store: new MemoryScheduleStore(),
  };
  assert.throws(
    () => new Scheduler({ ...base, timeZone: "Nowhere/Town" }),
    RangeError,
  );
  assert.throws(
    () => new Scheduler({ ...base, catchUpWindowSeconds: -1 }),
    RangeError,
  );
  assert.throws(
    () =>
      new Scheduler({
        ...base,
        overlapPolicy: "Queue" as unknown as OverlapPolicy,
      }),
    RangeError,
  );
});
