/**
 * Scheduler: 10,000 registered schedules firing in the same minute, with a
 * fetch that returns the job at once and a dispatch that only records.
 * Measures the delay from each fire instant to its dispatch, the heap per
 * registered schedule, and CPU between fires.
 *
 * @module
 */
import process from "node:process";
import type { Job } from "../src/iam_api/job.ts";
import { MemoryScheduleStore } from "../src/scheduling/schedule_store.ts";
import {
  Scheduler,
  type SchedulerLogger,
} from "../src/scheduling/scheduler.ts";
import { BENCH_CUSTOMER, BENCH_IMAGE } from "./support/engine.ts";
import {
  type Benchmark,
  type BenchOptions,
  type BenchResult,
  reportRow,
} from "./support/report.ts";
import { formatMs, maximum, percentile } from "./support/stats.ts";

const SCHEDULES = 10_000;
const EVERY_MINUTE = "* * * * *";

/** Latest second of a minute at which registration may begin. */
const LATEST_START_SECOND = 40;

const silentLogger: SchedulerLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Wall clock time in ms, as the scheduler reads it. `performance.timeOrigin
 * + performance.now()` is not: the monotonic clock drifted 4.3 s from the
 * wall clock in a 24-minute run here, which gave negative delays.
 */
function wallNow(): number {
  return Date.now();
}

/** Returns this process's user plus system CPU time, in seconds. */
function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1_000_000;
}

/** Runs V8's collector when `--v8-flags=--expose-gc` exposed it. */
function collectGarbage(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return false;
  gc();
  return true;
}

function scheduledJob(index: number): Job {
  return {
    id: crypto.randomUUID(),
    name: `schedule ${index}`,
    customer: BENCH_CUSTOMER,
    scriptPath: "",
    containerImage: BENCH_IMAGE,
    registryServer: null,
    registryUsername: null,
    registryPassword: null,
    parameters: {},
    jobType: "Scheduled",
    isWhatIf: false,
    isPaused: false,
    schedule: EVERY_MINUTE,
    status: "Pending",
    createdAt: null,
    startedAt: null,
    completedAt: null,
    scheduledFor: null,
    assignedToOrchestratorId: null,
  };
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const idleWindowMs = options.quick ? 5_000 : 20_000;
  const jobs = new Map<string, Job>();
  for (let index = 0; index < SCHEDULES; index++) {
    const job = scheduledJob(index);
    jobs.set(job.id, job);
  }
  const delays: number[] = [];
  const allDispatched = Promise.withResolvers<void>();
  let firstDispatch = 0;
  let lastDispatch = 0;
  const scheduler = new Scheduler({
    fetchJob: (id) => Promise.resolve(jobs.get(id) ?? null),
    dispatch: (_job, fireTime) => {
      const now = wallNow();
      if (delays.length === 0) firstDispatch = now;
      lastDispatch = now;
      delays.push(now - fireTime.getTime());
      if (delays.length === SCHEDULES) allDispatched.resolve();
    },
    isRunning: () => false,
    failJob: () => Promise.resolve(),
    store: new MemoryScheduleStore(),
    logger: silentLogger,
  });

  // Registration must end before the minute does, so that every schedule
  // shares the same first fire instant.
  const second = new Date().getUTCSeconds();
  if (second > LATEST_START_SECOND) {
    options.progress(
      `scheduler: waiting ${60 - second} s for the next minute`,
    );
    await sleep((60 - second) * 1000 + 100);
  }
  const collected = collectGarbage();
  const heapBefore = Deno.memoryUsage().heapUsed;
  const registerStart = performance.now();
  for (const job of jobs.values()) await scheduler.register(job);
  const registerMs = performance.now() - registerStart;
  collectGarbage();
  const heapAfter = Deno.memoryUsage().heapUsed;
  const fireInstant = scheduler.nextFireTime(jobs.keys().next().value!)!;
  options.progress(
    `scheduler: ${SCHEDULES} schedules registered in ${
      formatMs(registerMs)
    }; waiting for ${fireInstant.toISOString()}`,
  );

  try {
    const cpuBeforeFire = cpuSeconds();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waitMs = fireInstant.getTime() - Date.now() + 30_000;
    await Promise.race([
      allDispatched.promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Only ${delays.length} of ${SCHEDULES} schedules fired ` +
                  `within ${waitMs} ms`,
              ),
            ),
          waitMs,
        );
      }),
    ]);
    clearTimeout(timer);
    const cpuBurst = cpuSeconds() - cpuBeforeFire;

    // Between fires: the next fire is a minute after the first.
    await sleep(2_000);
    const windowMs = Math.min(
      idleWindowMs,
      fireInstant.getTime() + 60_000 - Date.now() - 2_000,
    );
    const cpuStart = cpuSeconds();
    const windowStart = performance.now();
    await sleep(windowMs);
    const idleCpu = (cpuSeconds() - cpuStart) /
      ((performance.now() - windowStart) / 1000) * 100;

    const perSchedule = (heapAfter - heapBefore) / SCHEDULES;
    return {
      name: "6. Scheduler",
      rows: [
        reportRow(
          "fire instant to dispatch, p50",
          formatMs(percentile(delays, 50)),
        ),
        reportRow(
          "fire instant to dispatch, p99",
          formatMs(percentile(delays, 99)),
        ),
        reportRow(
          "fire instant to dispatch, max",
          formatMs(maximum(delays)),
        ),
        reportRow(
          "first to last dispatch",
          formatMs(lastDispatch - firstDispatch),
        ),
        reportRow(
          "CPU time of the burst of fires",
          formatMs(cpuBurst * 1000),
        ),
        reportRow(
          "registration of all schedules",
          `${formatMs(registerMs)} (${
            (registerMs * 1000 / SCHEDULES).toFixed(0)
          } µs each)`,
        ),
        reportRow(
          "heap per registered schedule",
          `${(perSchedule / 1024).toFixed(2)} KiB${
            collected ? "" : " (without forced collection)"
          }`,
        ),
        reportRow(
          "CPU while idle between fires",
          `${idleCpu.toFixed(2)} % of a core over ${
            (windowMs / 1000).toFixed(0)
          } s`,
        ),
      ],
      notes: [
        `${SCHEDULES} jobs with \`${EVERY_MINUTE}\` registered in the ` +
        "benchmark's process with a MemoryScheduleStore and a logger " +
        "that drops records; fetchJob resolves at once and dispatch " +
        "records the time.",
        "Heap per schedule is the change of V8's used heap across " +
        "registration, after a forced collection on both sides, divided " +
        "by the number of schedules; the jobs themselves were built " +
        "before.",
        "Idle CPU is the whole benchmark process's, so it is an upper " +
        "bound for the scheduler's timers.",
      ],
    };
  } finally {
    scheduler.stop();
  }
}

/** The scheduler benchmark. */
export const schedulerFires: Benchmark = {
  name: "scheduler",
  summary: "10,000 schedules firing in one minute: dispatch delay, memory",
  run,
};
