/**
 * Throughput: N queued jobs of `true` drained through the daemon with
 * MaxConcurrentJobs 1, 4 and 16, against the same number of direct engine
 * runs with the same parallelism.
 *
 * @module
 */
import {
  ApiRecorder,
  PollProbe,
  startBenchApi,
  startBenchDaemon,
} from "./support/daemon_setup.ts";
import {
  BENCH_CUSTOMER,
  BENCH_IMAGE,
  engineClient,
  runDirectPool,
} from "./support/engine.ts";
import {
  type Benchmark,
  type BenchOptions,
  type BenchResult,
  type BenchRow,
  goalRow,
  reportRow,
} from "./support/report.ts";
import { formatRate, formatRatio } from "./support/stats.ts";

const CONCURRENCY = [1, 4, 16] as const;

/**
 * The daemon's execution backend: `Docker` by default, `Swarm` when the environment variable BENCH_BACKEND is `Swarm`. A swarm run needs the engine
 * to be a swarm manager (`docker swarm init --advertise-addr 127.0.0.1`).
 */
const BACKEND = Deno.env.get("BENCH_BACKEND") === "Swarm" ? "Swarm" : "Docker";

/** Maximum average time per job before the run is abandoned, in ms. */
const TIMEOUT_PER_JOB_MS = 5_000;

/**
 * Drains `count` queued jobs through a daemon and returns the wall time in
 * ms, from the first job added to the last container removed.
 *
 * @throws {Error} when a job fails or the jobs take too long
 */
async function drainThroughDaemon(
  count: number,
  maxConcurrentJobs: number,
): Promise<number> {
  const recorder = new ApiRecorder();
  const api = await startBenchApi(recorder);
  const probe = new PollProbe();
  let finished = 0;
  const allFinished = Promise.withResolvers<number>();
  const daemon = await startBenchDaemon(api.url, {
    settings: {
      "ApiSettings:PollingIntervalSeconds": "0.1",
      "ContainerSettings:MaxConcurrentJobs": String(maxConcurrentJobs),
      "ContainerSettings:Backend": BACKEND,
    },
    onJobFinished: () => {
      finished++;
      if (finished === count) allFinished.resolve(performance.now());
    },
  });
  const timeoutMs = count * TIMEOUT_PER_JOB_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await probe.firstResponse();
    const t0 = performance.now();
    for (let index = 0; index < count; index++) {
      api.addJob({
        name: `throughput ${index}`,
        customer: BENCH_CUSTOMER,
        containerImage: BENCH_IMAGE,
        parameters: { RUN: "true" },
      });
    }
    const end = await Promise.race([
      allFinished.promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Only ${finished} of ${count} jobs finished within ` +
                  `${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
    const completed = recorder.count("Completed");
    if (completed !== count) {
      throw new Error(
        `${count - completed} of ${count} jobs did not complete; run ` +
          `deno task dev to see a job's log`,
      );
    }
    return end - t0;
  } finally {
    clearTimeout(timer);
    await daemon.stop();
    probe.remove();
    await api.close();
  }
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const count = options.quick ? 100 : 500;
  const docker = engineClient();
  const rows: BenchRow[] = [];
  for (const concurrency of CONCURRENCY) {
    options.progress(
      `throughput: ${count} jobs, MaxConcurrentJobs ${concurrency}, daemon`,
    );
    const daemonMs = await drainThroughDaemon(count, concurrency);
    options.progress(
      `throughput: ${count} runs, ${concurrency} at a time, direct`,
    );
    const directMs = await runDirectPool(docker, "true", {
      count,
      parallelism: concurrency,
    });
    const daemonRate = count / (daemonMs / 1000);
    const directRate = count / (directMs / 1000);
    const ratio = daemonRate / directRate;
    let measured = `daemon ${formatRate(daemonRate, "jobs")}, direct ${
      formatRate(directRate, "runs")
    }, ratio ${formatRatio(ratio)}`;
    if (concurrency === 16) {
      options.progress(
        `throughput: ${count} runs, ${concurrency} at a time, direct with ` +
          `the daemon's engine calls`,
      );
      const likeDaemonMs = await runDirectPool(docker, "true", {
        count,
        parallelism: concurrency,
        kind: "daemon-calls",
      });
      const likeDaemonRate = count / (likeDaemonMs / 1000);
      measured += `; direct with the daemon's engine calls ${
        formatRate(likeDaemonRate, "runs")
      } (daemon ${formatRatio(daemonRate / likeDaemonRate)} of it)`;
    }
    rows.push(
      concurrency === 16
        ? goalRow(`MaxConcurrentJobs ${concurrency}`, measured, {
          text: "daemon within 10 % of direct",
          met: ratio >= 0.9,
        })
        : reportRow(`MaxConcurrentJobs ${concurrency}`, measured),
    );
  }
  return {
    name: `2. Throughput (${BACKEND} backend)`,
    rows,
    notes: [
      `${count} jobs of \`true\` queued at once on the reference API, ` +
      `drained by a daemon in the benchmark's process ` +
      `(PollingIntervalSeconds 0.1); the time runs from the first job ` +
      `added to the last container removed.`,
      `Direct runs: ${count} create, start, wait, remove sequences through ` +
      `dockerode, with as many at a time as the daemon's limit.`,
      "Direct with the daemon's engine calls (MaxConcurrentJobs 16 only) " +
      "also makes the calls the Docker backend adds per job: an image " +
      "inspect, a followed log stream, two container inspects and a last " +
      "log read. It separates the engine's cost of those calls from the " +
      "daemon's own time.",
    ],
  };
}

/** The throughput benchmark. */
export const throughput: Benchmark = {
  name: "throughput",
  summary: "Jobs per second through the daemon against direct engine runs",
  run,
};
