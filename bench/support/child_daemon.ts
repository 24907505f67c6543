/**
 * The daemon as a child process (`deno run src/main.ts run`), so that its
 * memory and CPU can be read from /proc apart from the benchmark's own.
 *
 * @module
 */
import { DAEMON_V8_FLAGS } from "../../scripts/compile.ts";
import { DOCKER_SOCKET } from "./engine.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** Bytes of the child's standard error kept for error messages. */
const STDERR_TAIL_BYTES = 16 * 1024;

/**
 * Clock ticks per second of /proc/PID/stat times.
 * NOTE: assumed to be 100, the value of Linux on x86_64 and arm64; check
 * with `getconf CLK_TCK` on other systems.
 */
export const CLOCK_TICKS_PER_SECOND = 100;

/** A running daemon child process. */
export interface ChildDaemon {
  pid: number;
  /** The last bytes the daemon wrote to standard error. */
  stderrTail(): string;
  /** Sends SIGTERM and waits for the exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** The permissions the child daemon gets, as in `deno task start`. */
export const CHILD_PERMISSIONS = [
  "--allow-net=127.0.0.1,localhost,unix:" + DOCKER_SOCKET,
  `--allow-read=.,/tmp,${DOCKER_SOCKET}`,
  `--allow-write=/tmp,${DOCKER_SOCKET}`,
  "--allow-env",
  "--allow-sys=hostname",
];

/** Describes the V8 flags of child daemons, for the notes of a report. */
export function childV8FlagsNote(): string {
  const fromEnvironment = Deno.env.get("BENCH_DAEMON_V8_FLAGS");
  if (fromEnvironment === undefined) {
    return `The daemon runs with \`--v8-flags=${DAEMON_V8_FLAGS}\`, as ` +
      "`deno task start` and the compiled binary do.";
  }
  return fromEnvironment === ""
    ? "The daemon runs without V8 flags (BENCH_DAEMON_V8_FLAGS is empty)."
    : `The daemon runs with \`--v8-flags=${fromEnvironment}\` from ` +
      "BENCH_DAEMON_V8_FLAGS.";
}

/**
 * Starts `iam-orchestrator run` with these settings as `--set` flags,
 * logging JSON lines at level Information to a pipe the benchmark drains.
 * `options.v8Flags` replaces the V8 flags of `deno task start`
 * (`DAEMON_V8_FLAGS`); the environment variable `BENCH_DAEMON_V8_FLAGS`, when
 * set, replaces both, and an empty value runs V8 with its defaults.
 * `options.mainModule` runs another copy of `src/main.ts`, such as a patched
 * one, in place of this checkout's.
 */
export function spawnChildDaemon(
  settings: Record<string, string>,
  options: { v8Flags?: string; mainModule?: string } = {},
): ChildDaemon {
  const v8Flags = Deno.env.get("BENCH_DAEMON_V8_FLAGS") ?? options.v8Flags ??
    DAEMON_V8_FLAGS;
  const args = [
    "run",
    ...CHILD_PERMISSIONS,
    ...(v8Flags === "" ? [] : [`--v8-flags=${v8Flags}`]),
    options.mainModule ?? MAIN,
    "run",
    ...Object.entries({ "Logging:Format": "Json", ...settings }).flatMap((
      [key, value],
    ) => ["--set", `${key}=${value}`]),
  ];
  // By name, so that `--allow-run=deno` covers it wherever `deno` lives;
  // Deno.execPath() can be the target of a symbolic link on the PATH.
  const child = new Deno.Command("deno", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  const drained = (async () => {
    for await (const chunk of child.stderr) {
      tail = (tail + decoder.decode(chunk)).slice(-STDERR_TAIL_BYTES);
    }
  })();
  return {
    pid: child.pid,
    stderrTail: () => tail,
    async stop(graceMs = 30_000) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }, graceMs);
      await child.status;
      clearTimeout(timer);
      await drained;
    },
  };
}

/**
 * Reads a file of another process under /proc through `cat`, because Deno
 * 1.43 and later read /proc directly only with --allow-all.
 */
async function readProcFile(pid: number, name: string): Promise<string> {
  const path = `/proc/${pid}/${name}`;
  const output = await new Deno.Command("cat", {
    args: [path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `Reading ${path} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

/** Memory of a process from /proc/PID/status, in bytes. */
export interface ProcessMemory {
  /** Resident set size now (VmRSS). */
  rss: number;
  /** Peak resident set size since the start (VmHWM). */
  peakRss: number;
}

/** Reads a process's resident and peak resident memory. */
export async function readMemory(pid: number): Promise<ProcessMemory> {
  const text = await readProcFile(pid, "status");
  const kib = (field: string) => {
    const match = text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"));
    if (match === null) {
      throw new Error(`/proc/${pid}/status has no ${field} line`);
    }
    return Number(match[1]) * 1024;
  };
  return { rss: kib("VmRSS"), peakRss: kib("VmHWM") };
}

/** Reads a process's user plus system CPU time, in seconds. */
export async function readCpuSeconds(pid: number): Promise<number> {
  const text = await readProcFile(pid, "stat");
  // The command name in brackets may contain spaces; fields follow it.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / CLOCK_TICKS_PER_SECOND;
}
