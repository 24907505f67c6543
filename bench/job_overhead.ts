/**
 * Per-job overhead: a job whose container runs `true`, from the poll
 * response that lists it to its `Completed` status, against the floor of
 * the same four engine calls made directly (create, start, wait, remove).
 *
 * @module
 */
import { DockerBackend } from "../src/runtime/docker_backend.ts";
import { parseDockerEndpoint } from "../src/config/docker_endpoint.ts";
import {
  ApiRecorder,
  PollProbe,
  startBenchApi,
  startBenchDaemon,
} from "./support/daemon_setup.ts";
import {
  BENCH_CUSTOMER,
  BENCH_IMAGE,
  type DirectRunTimes,
  DOCKER_SOCKET,
  engineClient,
  runDirect,
} from "./support/engine.ts";
import {
  type Benchmark,
  type BenchOptions,
  type BenchResult,
  goalRow,
  reportRow,
} from "./support/report.ts";
import { formatMs, formatRatio, median, percentile } from "./support/stats.ts";
import { TimedBackend } from "./support/timed_backend.ts";

/** Maximum wait for one job, in ms. */
const JOB_TIMEOUT_MS = 60_000;

/** Durations of one daemon job's steps, in ms. */
interface JobSample {
  pollWait: number;
  toRunning: number;
  runningToImageCheck: number;
  imageCheck: number;
  createStart: number;
  containerRun: number;
  outputDrain: number;
  logFlushAndStatus: number;
  /** Poll response to Completed: the measured span. */
  total: number;
  /** Poll response to the end of the removal, after Completed. */
  totalWithRemove: number;
  remove: number;
  /**
   * Time of the span outside the daemon's create, start and wait calls:
   * the daemon's own work plus its extra engine calls (image inspect).
   */
  ownTime: number;
}

async function runDaemonJobs(
  runs: number,
  floorBetween: (index: number) => Promise<void>,
): Promise<JobSample[]> {
  const recorder = new ApiRecorder();
  const api = await startBenchApi(recorder);
  const probe = new PollProbe();
  const removed = new Map<string, PromiseWithResolvers<number>>();
  const backend = new TimedBackend(
    new DockerBackend(parseDockerEndpoint(`unix://${DOCKER_SOCKET}`)),
  );
  const daemon = await startBenchDaemon(api.url, {
    settings: {
      "ApiSettings:PollingIntervalSeconds": "0.1",
      "ContainerSettings:MaxConcurrentJobs": "1",
    },
    backend,
  });
  const samples: JobSample[] = [];
  try {
    await probe.firstResponse();
    for (let index = 0; index < runs; index++) {
      await floorBetween(index);
      const id = crypto.randomUUID();
      const listed = probe.watch(id);
      const jobRemoved = Promise.withResolvers<number>();
      removed.set(id, jobRemoved);
      const added = performance.now();
      api.addJob({
        id,
        name: `overhead ${index}`,
        customer: BENCH_CUSTOMER,
        containerImage: BENCH_IMAGE,
        parameters: { RUN: "true" },
      });
      const completed = await recorder.waitForStatus(
        id,
        "Completed",
        JOB_TIMEOUT_MS,
      );
      const polled = await listed;
      const running = recorder.statusTime(id, "Running")!;
      // The removal follows the status; wait for it so runs do not overlap.
      const spans = await waitForRemoval(backend, id);
      const waitEnd = spans.wait!.end;
      const outputEnd = Math.max(spans.outputEnd ?? waitEnd, waitEnd);
      samples.push({
        pollWait: polled - added,
        toRunning: running - polled,
        runningToImageCheck: spans.imageCheck!.start - running,
        imageCheck: spans.imageCheck!.end - spans.imageCheck!.start,
        createStart: spans.start.end - spans.start.start,
        containerRun: waitEnd - spans.start.end,
        outputDrain: outputEnd - waitEnd,
        logFlushAndStatus: completed - outputEnd,
        total: completed - polled,
        totalWithRemove: spans.remove!.end - polled,
        remove: spans.remove!.end - spans.remove!.start,
        ownTime: completed - polled - (spans.start.end - spans.start.start) -
          (waitEnd - spans.start.end),
      });
    }
  } finally {
    await daemon.stop();
    probe.remove();
    await api.close();
  }
  return samples;
}

async function waitForRemoval(backend: TimedBackend, jobId: string) {
  const deadline = Date.now() + JOB_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const spans = backend.spans(jobId);
    if (spans?.remove !== null && spans?.remove !== undefined) return spans;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(
    `Job ${jobId}'s container was not removed within ${JOB_TIMEOUT_MS} ms`,
  );
}

function medianOf<T>(samples: readonly T[], pick: (sample: T) => number) {
  return median(samples.map(pick));
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const runs = options.quick ? 10 : 30;
  const docker = engineClient();
  const floor: DirectRunTimes[] = [];
  // Warm-up of both paths, not counted.
  await runDirect(docker, "true");
  options.progress(`job overhead: ${runs} daemon jobs and ${runs} direct runs`);
  // Floor and daemon runs alternate, so that drift of the engine hits both.
  const samples = await runDaemonJobs(runs + 1, async (index) => {
    if (index > 0) floor.push(await runDirect(docker, "true"));
  });
  samples.shift();

  const floorMs = medianOf(floor, (s) => s.total);
  const totalMs = medianOf(samples, (s) => s.total);
  const addedMs = totalMs - floorMs;
  const share = addedMs / floorMs;
  const ownMs = medianOf(samples, (s) => s.ownTime);
  const floorTotals = floor.map((s) => s.total);
  const rows = [
    reportRow(
      "floor: create + start + wait + remove, direct (median)",
      `${formatMs(floorMs)} (create ${
        formatMs(medianOf(floor, (s) => s.create))
      }, start ${formatMs(medianOf(floor, (s) => s.start))}, wait ${
        formatMs(medianOf(floor, (s) => s.wait))
      }, remove ${formatMs(medianOf(floor, (s) => s.remove))})`,
    ),
    reportRow(
      "floor spread (25th to 75th percentile)",
      `${formatMs(percentile(floorTotals, 25))} to ${
        formatMs(percentile(floorTotals, 75))
      }`,
    ),
    reportRow(
      "daemon: poll response to Completed (median)",
      formatMs(totalMs),
    ),
    reportRow("daemon / floor", formatRatio(totalMs / floorMs)),
    goalRow("added time, share of the floor", `${(share * 100).toFixed(0)} %`, {
      text: "< 15 %",
      met: share < 0.15,
    }),
    goalRow("added time, absolute", formatMs(addedMs), {
      text: "< 50 ms",
      met: addedMs < 50,
    }),
    goalRow(
      "daemon's own time per job: the span minus its create, start and " +
        "wait calls (median)",
      `${formatMs(ownMs)} (${
        (ownMs / floorMs * 100).toFixed(1)
      } % of the floor)`,
      { text: "< 50 ms, < 15 %", met: ownMs < 50 && ownMs / floorMs < 0.15 },
    ),
    reportRow(
      "poll wait, addJob to poll response (excluded above; interval 0.1 s)",
      formatMs(medianOf(samples, (s) => s.pollWait)),
    ),
    reportRow(
      "  poll response to Running received",
      formatMs(medianOf(samples, (s) => s.toRunning)),
    ),
    reportRow(
      "  Running to image check",
      formatMs(medianOf(samples, (s) => s.runningToImageCheck)),
    ),
    reportRow(
      "  image check (inspect, IfNotPresent)",
      formatMs(medianOf(samples, (s) => s.imageCheck)),
    ),
    reportRow(
      "  create + start",
      formatMs(medianOf(samples, (s) => s.createStart)),
    ),
    reportRow(
      "  container run to wait() return (wait + inspect)",
      formatMs(medianOf(samples, (s) => s.containerRun)),
    ),
    reportRow(
      "  output drain after wait()",
      formatMs(medianOf(samples, (s) => s.outputDrain)),
    ),
    reportRow(
      "  last log entries + Completed sent",
      formatMs(medianOf(samples, (s) => s.logFlushAndStatus)),
    ),
    reportRow(
      "  remove (after Completed, not in the span above)",
      formatMs(medianOf(samples, (s) => s.remove)),
    ),
    reportRow(
      "daemon: poll response to container removed (median)",
      `${formatMs(medianOf(samples, (s) => s.totalWithRemove))} (${
        formatRatio(medianOf(samples, (s) => s.totalWithRemove) / floorMs)
      } the floor)`,
    ),
  ];
  return {
    name: "1. Per-job overhead",
    rows,
    notes: [
      `${samples.length} daemon jobs and ${floor.length} direct runs, ` +
      `alternating, after one warm-up of each; MaxConcurrentJobs 1, ` +
      `PollingIntervalSeconds 0.1, other settings at their defaults.`,
      "The daemon runs in the benchmark's process with the reference API; " +
      "its own log has no sink there, so log formatting is not counted.",
      "Step medians are taken separately, so they need not add up to the " +
      "total's median. The difference of two medians of the engine's " +
      "noisy calls can even be negative; the daemon's own time per job " +
      "(the span without its create, start and wait calls) is the " +
      "steadier measure of what the daemon adds.",
    ],
  };
}

/** The per-job overhead benchmark. */
export const jobOverhead: Benchmark = {
  name: "overhead",
  summary: "Per-job overhead of a `true` job against direct engine calls",
  run,
};
