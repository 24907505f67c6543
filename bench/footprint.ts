/**
 * Footprint of an idle daemon process: resident memory and CPU with 0, 100
 * and 10,000 known jobs, and the time from process spawn to its first poll.
 *
 * @module
 */
import type { ReferenceApi } from "../src/reference_api/server.ts";
import {
  ApiRecorder,
  benchSettings,
  startBenchApi,
} from "./support/daemon_setup.ts";
import {
  type ChildDaemon,
  childV8FlagsNote,
  readCpuSeconds,
  readMemory,
  spawnChildDaemon,
} from "./support/child_daemon.ts";
import { BENCH_CUSTOMER, BENCH_IMAGE } from "./support/engine.ts";
import {
  type Benchmark,
  type BenchOptions,
  type BenchResult,
  type BenchRow,
  goalRow,
  reportRow,
} from "./support/report.ts";
import { formatMiB, formatMs, maximum, median } from "./support/stats.ts";

const KNOWN_JOBS = [0, 100, 10_000] as const;

/** A cron expression that fires on 1 January only, so never during a run. */
const YEARLY = "0 0 1 1 *";

const IDLE_RSS_GOAL_BYTES = 80 * 1024 * 1024;
const IDLE_CPU_GOAL_PERCENT = 1;

/** Maximum wait for the daemon's first and second polls, in ms. */
const POLL_TIMEOUT_MS = 60_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits until the API has received `count` pending-job polls and returns
 * when the last one was seen. Reads the request counter every millisecond.
 */
async function waitForPolls(
  api: ReferenceApi,
  count: number,
  child: ChildDaemon,
): Promise<number> {
  const deadline = performance.now() + POLL_TIMEOUT_MS;
  while (api.requests.pendingJobs < count) {
    if (performance.now() > deadline) {
      throw new Error(
        `The daemon did not poll ${count} times within ${POLL_TIMEOUT_MS} ` +
          `ms; its log ends with:\n${child.stderrTail()}`,
      );
    }
    await sleep(1);
  }
  return performance.now();
}

interface IdleSample {
  knownJobs: number;
  startupMs: number;
  rssMedian: number;
  rssMax: number;
  cpuPercent: number;
}

async function measureIdle(
  knownJobs: number,
  windowMs: number,
): Promise<IdleSample> {
  const api = await startBenchApi(new ApiRecorder());
  for (let index = 0; index < knownJobs; index++) {
    api.addJob({
      name: `known ${index}`,
      customer: BENCH_CUSTOMER,
      containerImage: BENCH_IMAGE,
      jobType: "Scheduled",
      schedule: YEARLY,
      isPaused: true,
      parameters: { RUN: "true" },
    });
  }
  const stateDirectory = await Deno.makeTempDir({ prefix: "iam-bench-" });
  const spawned = performance.now();
  const child = spawnChildDaemon(benchSettings(api.url, stateDirectory));
  try {
    const firstPoll = await waitForPolls(api, 1, child);
    // From the second poll on, every known job is registered.
    await waitForPolls(api, 2, child);
    const rss: number[] = [];
    const cpuStart = await readCpuSeconds(child.pid);
    const windowStart = performance.now();
    for (let second = 0; second < windowMs / 1000; second++) {
      rss.push((await readMemory(child.pid)).rss);
      await sleep(windowStart + (second + 1) * 1000 - performance.now());
    }
    const cpuSeconds = await readCpuSeconds(child.pid) - cpuStart;
    const elapsed = performance.now() - windowStart;
    return {
      knownJobs,
      startupMs: firstPoll - spawned,
      rssMedian: median(rss),
      rssMax: maximum(rss),
      cpuPercent: cpuSeconds / (elapsed / 1000) * 100,
    };
  } finally {
    await child.stop();
    await api.close();
    await Deno.remove(stateDirectory, { recursive: true });
  }
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const windowMs = options.quick ? 10_000 : 30_000;
  const rows: BenchRow[] = [];
  for (const knownJobs of KNOWN_JOBS) {
    options.progress(
      `footprint: ${knownJobs} known jobs, ${windowMs / 1000} s idle`,
    );
    const sample = await measureIdle(knownJobs, windowMs);
    rows.push(
      goalRow(
        `${knownJobs} known jobs: idle RSS (median, max)`,
        `${formatMiB(sample.rssMedian)}, ${formatMiB(sample.rssMax)}`,
        { text: "< 80 MiB", met: sample.rssMax < IDLE_RSS_GOAL_BYTES },
      ),
      goalRow(
        `${knownJobs} known jobs: idle CPU`,
        `${sample.cpuPercent.toFixed(2)} % of a core`,
        {
          text: "< 1 % of a core",
          met: sample.cpuPercent < IDLE_CPU_GOAL_PERCENT,
        },
      ),
      reportRow(
        `${knownJobs} known jobs: spawn to first poll`,
        formatMs(sample.startupMs),
      ),
    );
  }
  return {
    name: "4. Footprint",
    rows,
    notes: [
      "The daemon runs as a child process (`deno run src/main.ts run`, " +
      "JSON log at level Information into a pipe), with the default " +
      "polling interval of 10 s and an empty state directory.",
      childV8FlagsNote(),
      `Known jobs are paused scheduled jobs (\`${YEARLY}\`) that the ` +
      "reference API lists as pending: the daemon registers each with its " +
      "scheduler and reads the whole list again at every poll.",
      `RSS is read from /proc/PID/status (VmRSS) once a second and CPU from ` +
      `/proc/PID/stat (utime + stime) over ${windowMs / 1000} s, ` +
      "starting at the second poll.",
      "Spawn to first poll includes Deno's start, module loading from the " +
      "cache, the state store, the engine check and the recovery scan.",
    ],
  };
}

/** The footprint benchmark. */
export const footprint: Benchmark = {
  name: "footprint",
  summary: "Idle RSS and CPU with 0, 100, 10,000 known jobs; startup time",
  run,
};
