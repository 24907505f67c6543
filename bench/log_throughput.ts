/**
 * Log throughput: a container writes numbered lines of about 100 bytes as
 * fast as it can; the daemon (a child process) ships them to the reference
 * API. Beside it, the ceiling: the same container read by `docker logs -f`
 * into /dev/null.
 *
 * @module
 */
import {
  ApiRecorder,
  benchSettings,
  startBenchApi,
} from "./support/daemon_setup.ts";
import {
  childV8FlagsNote,
  readMemory,
  spawnChildDaemon,
} from "./support/child_daemon.ts";
import {
  BENCH_CUSTOMER,
  BENCH_IMAGE,
  BENCH_LABEL,
  engineClient,
} from "./support/engine.ts";
import {
  type Benchmark,
  type BenchOptions,
  type BenchResult,
  goalRow,
  reportRow,
} from "./support/report.ts";
import {
  formatMiB,
  formatMs,
  formatRate,
  formatRatio,
  median,
} from "./support/stats.ts";

/** Text after each number; with a 7-digit number a line is 98 bytes. */
const PADDING = "padding to make the line about one hundred bytes long" +
  ".".repeat(37);

const PEAK_GOAL_BYTES = 64 * 1024 * 1024;

/** Maximum time of one run of the container, in ms. */
const RUN_TIMEOUT_MS = 600_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Returns the shell command that prints `lines` numbered lines. */
function writerCommand(lines: number): string {
  return `seq 1 ${lines} | sed 's/$/ ${PADDING}/'`;
}

/** Counts container lines of one job and checks that they come in order. */
class LineCheck {
  count = 0;
  outOfOrder = 0;
  malformed = 0;
  #last = 0;

  add(message: string): void {
    for (const line of message.split("\n")) {
      const space = line.indexOf(" ");
      const number = Number(line.slice(0, space));
      if (space < 0 || !Number.isInteger(number)) {
        this.malformed++;
        continue;
      }
      if (line.slice(space + 1) !== PADDING) this.malformed++;
      if (number !== this.#last + 1) this.outOfOrder++;
      this.#last = number;
      this.count++;
    }
  }
}

interface DaemonRun {
  seconds: number;
  idleRss: number;
  peakSampledRss: number;
  peakRssSinceStart: number;
  check: LineCheck;
  entries: number;
}

async function runThroughDaemon(lines: number): Promise<DaemonRun> {
  const recorder = new ApiRecorder();
  const api = await startBenchApi(recorder);
  const check = new LineCheck();
  let entries = 0;
  recorder.onLog((event) => {
    if (event.source !== "container") return;
    entries++;
    check.add(event.message);
  });
  const stateDirectory = await Deno.makeTempDir({ prefix: "iam-bench-" });
  const child = spawnChildDaemon({
    ...benchSettings(api.url, stateDirectory),
    "ApiSettings:PollingIntervalSeconds": "0.1",
    "ContainerSettings:MaxConcurrentJobs": "1",
  });
  try {
    const deadline = Date.now() + 60_000;
    while (api.requests.pendingJobs < 1) {
      if (Date.now() > deadline) {
        throw new Error(
          `The daemon did not poll within 60 s; its log ends with:\n` +
            child.stderrTail(),
        );
      }
      await sleep(10);
    }
    // Idle for a few seconds after the first poll, as in the footprint
    // benchmark, before the job arrives.
    const idle: number[] = [];
    for (let second = 0; second < 3; second++) {
      await sleep(1000);
      idle.push((await readMemory(child.pid)).rss);
    }
    const job = api.addJob({
      name: "log throughput",
      customer: BENCH_CUSTOMER,
      containerImage: BENCH_IMAGE,
      parameters: { RUN: writerCommand(lines) },
    });
    let peak = 0;
    let done = false;
    const sampling = (async () => {
      while (!done) {
        peak = Math.max(peak, (await readMemory(child.pid)).rss);
        await sleep(100);
      }
    })();
    const finalStatus = Promise.race([
      recorder.waitForStatus(job.id, "Completed", RUN_TIMEOUT_MS),
      recorder.waitForStatus(job.id, "Failed", RUN_TIMEOUT_MS).then(() => {
        throw new Error(
          `The log job failed; the daemon's log ends with:\n` +
            child.stderrTail(),
        );
      }),
    ]);
    const completed = await finalStatus;
    done = true;
    await sampling;
    const running = recorder.statusTime(job.id, "Running")!;
    const memory = await readMemory(child.pid);
    return {
      seconds: (completed - running) / 1000,
      idleRss: median(idle),
      peakSampledRss: Math.max(peak, memory.rss),
      peakRssSinceStart: memory.peakRss,
      check,
      entries,
    };
  } finally {
    await child.stop();
    await api.close();
    await Deno.remove(stateDirectory, { recursive: true });
  }
}

/**
 * Creates and starts the same container directly and reads its log with
 * `docker logs -f` into /dev/null. Returns the seconds from the create call
 * to the end of the log.
 */
async function runCeiling(lines: number): Promise<number> {
  const docker = engineClient();
  const t0 = performance.now();
  const container = await docker.createContainer({
    Image: BENCH_IMAGE,
    Env: [`RUN=${writerCommand(lines)}`],
    Labels: { [BENCH_LABEL]: "log-ceiling" },
    Tty: false,
  });
  try {
    await container.start();
    const reader = new Deno.Command("docker", {
      args: ["logs", "-f", container.id],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const timer = setTimeout(() => reader.kill("SIGKILL"), RUN_TIMEOUT_MS);
    const status = await reader.status;
    clearTimeout(timer);
    if (!status.success) {
      throw new Error(
        `docker logs -f ${container.id.slice(0, 12)} exited with code ` +
          `${status.code}`,
      );
    }
    return (performance.now() - t0) / 1000;
  } finally {
    await container.remove({ force: true, v: true });
  }
}

async function run(options: BenchOptions): Promise<BenchResult> {
  const lines = options.quick ? 100_000 : 1_000_000;
  options.progress(`log throughput: ${lines} lines through the daemon`);
  const daemon = await runThroughDaemon(lines);
  options.progress(`log throughput: ${lines} lines through docker logs -f`);
  const ceilingSeconds = await runCeiling(lines);

  // Lines received, not lines written: a daemon that loses lines must not
  // look faster for it.
  const daemonRate = daemon.check.count / daemon.seconds;
  const ceilingRate = lines / ceilingSeconds;
  const growth = daemon.peakSampledRss - daemon.idleRss;
  const { check } = daemon;
  const intact = check.count === lines && check.outOfOrder === 0 &&
    check.malformed === 0;
  return {
    name: "5. Log throughput",
    rows: [
      reportRow(
        "daemon: Running to Completed, lines received per second",
        `${formatMs(daemon.seconds * 1000)}, ${
          formatRate(daemonRate, "lines")
        }`,
      ),
      reportRow(
        "ceiling: docker logs -f > /dev/null, create to end of log",
        `${formatMs(ceilingSeconds * 1000)}, ${
          formatRate(ceilingRate, "lines")
        }`,
      ),
      reportRow("daemon / ceiling", formatRatio(daemonRate / ceilingRate)),
      goalRow(
        "lines received by the API, in order",
        `${check.count} of ${lines} in ${daemon.entries} entries, ` +
          `${check.outOfOrder} out of order, ${check.malformed} malformed`,
        { text: "all, in order", met: intact },
      ),
      reportRow("daemon idle RSS before the job", formatMiB(daemon.idleRss)),
      goalRow(
        "daemon peak RSS during the job, above idle",
        `${formatMiB(growth)} (peak ${formatMiB(daemon.peakSampledRss)})`,
        { text: "< 64 MiB", met: growth < PEAK_GOAL_BYTES },
      ),
      reportRow(
        "daemon VmHWM since its start",
        formatMiB(daemon.peakRssSinceStart),
      ),
    ],
    notes: [
      `${lines} lines of about 98 bytes from \`seq\` piped through busybox ` +
      "`sed`; the daemon is a child process with default log settings " +
      "(FlushIntervalMs 200, MaxEntryBytes 32768).",
      childV8FlagsNote(),
      "The reference API runs in the benchmark's process, counts the lines " +
      "of each entry and checks the numbers follow each other; it keeps " +
      "no entry. It shares the machine's CPUs with the daemon.",
      "Peak RSS is sampled from VmRSS every 100 ms while the job runs.",
      "Both times include creating and starting the container and the " +
      "writer's own run time; the ceiling's time ends when " +
      "`docker logs -f` exits.",
    ],
  };
}

/** The log throughput benchmark. */
export const logThroughput: Benchmark = {
  name: "logs",
  summary: "Lines per second shipped to the API against docker logs -f",
  run,
};
