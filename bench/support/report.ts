/**
 * Result types of the benchmarks, the markdown table they print, and the
 * description of the machine they ran on.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { DOCKER_SOCKET } from "./engine.ts";

/** Options every benchmark takes. */
export interface BenchOptions {
  /** Run reduced sizes, so that the whole suite ends in a few minutes. */
  quick: boolean;
  /** Progress output, one line per step; results go to the table. */
  progress: (message: string) => void;
}

/** One measured value next to its goal. */
export interface BenchRow {
  metric: string;
  /** The goal, or an empty string when the value is only reported. */
  goal: string;
  measured: string;
  /** Whether the goal was met; null when the row has no goal. */
  met: boolean | null;
}

/** The measurements of one benchmark. */
export interface BenchResult {
  name: string;
  rows: BenchRow[];
  /** Sizes, settings and observations that explain the rows. */
  notes: string[];
}

/** A benchmark that `bench/main.ts` can run by name. */
export interface Benchmark {
  name: string;
  summary: string;
  run(options: BenchOptions): Promise<BenchResult>;
}

/** Returns a row without a goal. */
export function reportRow(metric: string, measured: string): BenchRow {
  return { metric, goal: "", measured, met: null };
}

/** Returns a row with a goal and whether it was met. */
export function goalRow(
  metric: string,
  measured: string,
  goal: { text: string; met: boolean },
): BenchRow {
  return { metric, goal: goal.text, measured, met: goal.met };
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/** Formats results as one markdown table per benchmark, with its notes. */
export function formatResults(results: readonly BenchResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    lines.push(`### ${result.name}`, "");
    lines.push("| metric | goal | measured | goal met |");
    lines.push("| --- | --- | --- | --- |");
    for (const row of result.rows) {
      let met = "";
      if (row.met !== null) met = row.met ? "yes" : "**no**";
      lines.push(
        `| ${escapeCell(row.metric)} | ${escapeCell(row.goal)} | ` +
          `${escapeCell(row.measured)} | ${met} |`,
      );
    }
    if (result.notes.length > 0) {
      lines.push("");
      for (const note of result.notes) lines.push(`- ${note}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

/** The machine and tool versions a run used. */
export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  dockerVersion: string;
  denoVersion: string;
}

/** Returns the "Model name" line of `lscpu`, or "unknown". */
async function cpuModel(): Promise<string> {
  const output = await new Deno.Command("lscpu", {
    env: { LC_ALL: "C" },
    stdout: "piped",
    stderr: "null",
  }).output();
  const line = new TextDecoder().decode(output.stdout).split("\n")
    .find((text) => text.startsWith("Model name:"));
  return line?.slice("Model name:".length).trim() ?? "unknown";
}

/** Reads the CPU count, CPU model, memory and versions of Docker and Deno. */
export async function describeMachine(): Promise<MachineInfo> {
  const docker = new Docker({ socketPath: DOCKER_SOCKET });
  const version = await docker.version();
  const memoryBytes = Deno.systemMemoryInfo().total;
  return {
    cpus: navigator.hardwareConcurrency,
    cpuModel: await cpuModel(),
    memoryGiB: Math.round(memoryBytes / 1024 ** 3 * 10) / 10,
    dockerVersion: version.Version,
    denoVersion: Deno.version.deno,
  };
}

/** Formats the machine description as a markdown list. */
export function formatMachine(machine: MachineInfo): string {
  return [
    `- CPUs: ${machine.cpus} (${machine.cpuModel})`,
    `- memory: ${machine.memoryGiB} GiB`,
    `- Docker engine: ${machine.dockerVersion}`,
    `- Deno: ${machine.denoVersion}`,
  ].join("\n");
}
