/**
 * Runs the benchmarks of the daemon against the local Docker engine and
 * prints a markdown table per benchmark.
 *
 * Usage: `deno task bench [--quick] [NAME...]`; `--list` prints the names.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { processIo } from "../src/cli/command_io.ts";
import { dispatchLatency } from "./dispatch_latency.ts";
import { footprint } from "./footprint.ts";
import { jobOverhead } from "./job_overhead.ts";
import { logThroughput } from "./log_throughput.ts";
import { schedulerFires } from "./scheduler.ts";
import {
  engineClient,
  removeBenchContainers,
  requireBenchImage,
} from "./support/engine.ts";
import {
  type Benchmark,
  type BenchResult,
  describeMachine,
  formatMachine,
  formatResults,
} from "./support/report.ts";
import { throughput } from "./throughput.ts";

const BENCHMARKS: readonly Benchmark[] = [
  jobOverhead,
  throughput,
  dispatchLatency,
  footprint,
  logThroughput,
  schedulerFires,
];

const HELP = [
  "Usage: deno task bench [--quick] [NAME...]",
  "",
  "Runs the benchmarks named, or all of them, and prints markdown tables.",
  "",
  "Options:",
  "  --quick   reduced sizes, for a run of a few minutes",
  "  --list    print the benchmark names and exit",
  "  --help    show this help",
  "",
  "Benchmarks:",
  ...BENCHMARKS.map((b) => `  ${b.name.padEnd(10)} ${b.summary}`),
].join("\n");

const { stdout: print, stderr: printError } = processIo;

function progress(message: string): void {
  const time = new Date().toISOString().slice(11, 19);
  printError(`[${time}] ${message}`);
}

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
        list: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    printError(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    print(HELP);
    return 0;
  }
  if (values.list) {
    for (const benchmark of BENCHMARKS) print(benchmark.name);
    return 0;
  }
  const unknown = positionals.filter((name) =>
    !BENCHMARKS.some((b) => b.name === name)
  );
  if (unknown.length > 0) {
    printError(
      `Unknown benchmark "${unknown.join('", "')}"; pass one of ` +
        BENCHMARKS.map((b) => b.name).join(", "),
    );
    return 2;
  }
  const selected = positionals.length === 0
    ? BENCHMARKS
    : BENCHMARKS.filter((b) => positionals.includes(b.name));

  const docker = engineClient();
  await requireBenchImage(docker);
  const left = await removeBenchContainers(docker);
  if (left > 0) progress(`removed ${left} containers of an earlier run`);

  const machine = await describeMachine();
  const started = performance.now();
  const results: BenchResult[] = [];
  let failures = 0;
  for (const benchmark of selected) {
    progress(`${benchmark.name}: starting`);
    const t0 = performance.now();
    try {
      results.push(await benchmark.run({ quick: values.quick, progress }));
    } catch (error) {
      // One failed benchmark should not discard the others' results.
      progress(`${benchmark.name}: failed: ${(error as Error).stack}`);
      failures++;
      results.push({
        name: benchmark.name,
        rows: [],
        notes: [`Failed: ${(error as Error).message}`],
      });
    }
    progress(
      `${benchmark.name}: done in ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s`,
    );
  }
  const minutes = (performance.now() - started) / 60_000;
  print(
    `## Results (${values.quick ? "quick" : "full"} run, ` +
      `${new Date().toISOString().slice(0, 10)}, ${minutes.toFixed(1)} min)\n`,
  );
  print(formatMachine(machine));
  print("");
  print(formatResults(results));
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
