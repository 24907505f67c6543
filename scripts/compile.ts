/**
 * Builds self-contained iam-orchestrator executables with `deno compile`,
 * one per target, into `dist/`, with the daemon's permissions baked in.
 *
 * Run: deno run --allow-run=deno --allow-read=. --allow-write=dist
 *   --allow-env scripts/compile.ts [options]
 *
 * `deno compile` embeds the program in `denort`, Deno's runtime without its
 * tools, which it downloads once per Deno version and target from Deno's
 * download server and caches in DENO_DIR. DENORT_BIN names a local denort
 * instead; Deno 2.9 then uses that file for every target, so this script
 * passes DENORT_BIN only to the build of the host's own target. Builds for
 * other targets still download their runtime.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type CommandIo, processIo } from "../src/cli/command_io.ts";

/** The targets built by default, as `deno compile --target` names them. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;
export type Target = typeof TARGETS[number];

/** The repository root, where deno.json and src/main.ts are. */
export const REPOSITORY_ROOT: string = fileURLToPath(
  new URL("..", import.meta.url),
).replace(/[\\/]$/, "");

/** Paths and hosts that the executable may use; see `permissionFlags`. */
export interface PermissionProfile {
  /**
   * State directory, read and written. A relative path is resolved against
   * the working directory when the executable starts.
   *
   * NOTE: that follows Deno's source, where a compiled program parses its
   * permission flags at start; no built executable has tried it yet.
   */
  stateDirectory: string;
  /** Settings file read at start when `--config` is not given. */
  configFile: string;
  /** Engine socket or named pipe, or null when only TCP is used. */
  dockerSocket: string | null;
  /**
   * Hosts the executable may connect to or listen on, or null for any host.
   * Loopback, 0.0.0.0 and the engine socket are added to a list.
   */
  netHosts: string[] | null;
  /** Further paths to read, such as DOCKER_CERT_PATH. */
  extraRead: string[];
}

/** Returns the engine's usual socket or named pipe on a target's system. */
export function defaultDockerSocket(target: Target): string {
  return target.includes("windows")
    ? "\\\\.\\pipe\\docker_engine"
    : "/var/run/docker.sock";
}

/**
 * Returns the permission flags baked into an executable:
 * - `--allow-net`: the IAM API and a TCP engine, whose hosts are settings
 *   and so unknown at build time, unless `netHosts` lists them; the status
 *   server listens through the same permission;
 * - `--allow-read`: the settings file, the state directory and the engine
 *   socket (Deno checks read and write access to connect to a Unix socket);
 * - `--allow-write`: the state directory (SQLite database, log spool) and
 *   the engine socket;
 * - `--allow-env`: every variable, because settings may come from any
 *   `Section__Key` variable;
 * - `--allow-sys=hostname`: the host name that the heartbeat sends.
 *
 * No subprocess, FFI or import permission is granted.
 */
export function permissionFlags(profile: PermissionProfile): string[] {
  const socket = profile.dockerSocket === null ? [] : [profile.dockerSocket];
  const net = profile.netHosts === null ? "--allow-net" : `--allow-net=${
    [
      ...profile.netHosts,
      "127.0.0.1",
      "localhost",
      "[::1]",
      // Lets the status server listen on every address, as in a container.
      "0.0.0.0",
      ...socket.filter((path) => path.startsWith("/")).map((path) =>
        `unix:${path}`
      ),
    ].join(",")
  }`;
  const read = [
    profile.configFile,
    profile.stateDirectory,
    ...socket,
    ...profile.extraRead,
  ];
  const write = [profile.stateDirectory, ...socket];
  return [
    net,
    `--allow-read=${read.join(",")}`,
    `--allow-write=${write.join(",")}`,
    "--allow-env",
    "--allow-sys=hostname",
  ];
}

/** Returns the output file of a target, with `.exe` on Windows. */
export function outputPath(outDirectory: string, target: Target): string {
  const suffix = target.includes("windows") ? ".exe" : "";
  return `${outDirectory}/iam-orchestrator-${target}${suffix}`;
}

/**
 * V8 flags of the daemon, as in `deno task start`. With
 * `--optimize-for-size`, a job that writes a million lines of output raised
 * the daemon's RSS by 55 MiB over idle, against 190 MiB without it. It
 * costs about a fifth of the lines shipped per second (docs/benchmarks.md).
 */
export const DAEMON_V8_FLAGS = "--optimize-for-size";

/**
 * Returns the arguments of `deno` that build one target from the
 * repository at `options.root`, which defaults to this script's repository.
 */
export function compileArgs(
  target: Target,
  options: { outDirectory: string; profile: PermissionProfile; root?: string },
): string[] {
  const root = options.root ?? REPOSITORY_ROOT;
  return [
    "compile",
    "--config",
    `${root}/deno.json`,
    "--target",
    target,
    "--output",
    outputPath(options.outDirectory, target),
    ...permissionFlags(options.profile),
    `--v8-flags=${DAEMON_V8_FLAGS}`,
    `${root}/src/main.ts`,
  ];
}

/**
 * True when `deno compile` failed because it could not download its
 * runtime, as on a machine without access to Deno's download server.
 */
export function isRuntimeDownloadFailure(stderr: string): boolean {
  return /denort-[\w-]+\.zip/.test(stderr) &&
    /error sending request|dns error|Connect|timed out|Download/i.test(stderr);
}

/** Returns the message for a failed build of one target. */
export function describeCompileFailure(
  target: Target,
  options: { stderr: string; hostTarget: string; denortBin: string | null },
): string {
  if (!isRuntimeDownloadFailure(options.stderr)) {
    return `Building ${target} failed:\n${options.stderr.trim()}`;
  }
  const hint = target === options.hostTarget
    ? options.denortBin === null
      ? `set DENORT_BIN to a local denort ${Deno.version.deno} for ` +
        `${target}, or build where the download works once (it is then ` +
        `cached in DENO_DIR)`
      : `DENORT_BIN was set, so this should not happen; check the file`
    : `DENORT_BIN serves only the host target ${options.hostTarget}, so ` +
      `build ${target} where the download works once (it is then cached ` +
      `in DENO_DIR)`;
  return `Building ${target} failed: deno compile could not download the ` +
    `Deno runtime (denort ${Deno.version.deno}) from Deno's download ` +
    `server; ${hint}`;
}

const HELP = [
  "Usage: deno run --allow-run=deno --allow-read=. --allow-write=dist",
  "         --allow-env scripts/compile.ts [options]",
  "",
  "Builds self-contained executables with deno compile, named",
  "iam-orchestrator-TARGET, with the daemon's permissions baked in.",
  "",
  "Options:",
  "  --target TARGET        Build this target; repeatable (default: all of",
  `                         ${TARGETS.join(", ")})`,
  "  --out-dir DIR          Output directory (default dist)",
  "  --state-dir PATH       State directory the binary may read and write;",
  "                         a relative path is resolved against the working",
  "                         directory at start (default state, the default",
  "                         of OrchestratorSettings:StateDirectory)",
  "  --config-file PATH     Settings file the binary may read (default",
  "                         appsettings.json in the working directory)",
  "  --docker-socket PATH   Engine socket or pipe the binary may use (default",
  "                         /var/run/docker.sock, \\\\.\\pipe\\docker_engine on",
  "                         Windows); 'none' for a TCP engine only",
  "  --net-hosts LIST       Comma-separated hosts (host or host:port) the",
  "                         binary may reach, such as the IAM API (default:",
  "                         any host, because the API URL is a setting)",
  "  --allow-read PATH      Another path to read, such as DOCKER_CERT_PATH;",
  "                         repeatable",
  "  --dry-run              Print the deno commands without running them",
  "  --help                 Show this help",
  "",
  "DENORT_BIN: path of a local denort for the host target",
  `(${Deno.build.target}); other targets download their runtime.`,
].join("\n");

/**
 * Builds the requested targets and returns the exit code: 0, 1 when a build
 * failed, 2 on invalid options.
 */
export async function main(args: string[], io: CommandIo): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        target: { type: "string", multiple: true },
        "out-dir": { type: "string", default: "dist" },
        "state-dir": { type: "string", default: "state" },
        "config-file": { type: "string", default: "appsettings.json" },
        "docker-socket": { type: "string" },
        "net-hosts": { type: "string" },
        "allow-read": { type: "string", multiple: true },
        "dry-run": { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
    }).values;
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const targets = values.target ?? [...TARGETS];
  for (const target of targets) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      io.stderr(
        `Unknown target "${target}": expected one of ${TARGETS.join(", ")}`,
      );
      return 2;
    }
  }

  const outDirectory = values["out-dir"];
  const denortBin = Deno.env.get("DENORT_BIN") ?? null;
  const hostTarget = Deno.build.target;
  if (!values["dry-run"]) await Deno.mkdir(outDirectory, { recursive: true });
  const failed: string[] = [];
  for (const target of targets as Target[]) {
    const socketOption = values["docker-socket"];
    const profile: PermissionProfile = {
      stateDirectory: values["state-dir"],
      configFile: values["config-file"],
      dockerSocket: socketOption === "none"
        ? null
        : socketOption ?? defaultDockerSocket(target),
      netHosts: values["net-hosts"] === undefined
        ? null
        : values["net-hosts"].split(",").map((host) => host.trim()).filter(
          (host) => host !== "",
        ),
      extraRead: values["allow-read"] ?? [],
    };
    const args = compileArgs(target, { outDirectory, profile });
    // Deno uses DENORT_BIN for whatever target it builds, so a host runtime
    // must not reach the build of another target.
    const useDenortBin = denortBin !== null && target === hostTarget;
    if (values["dry-run"]) {
      const prefix = useDenortBin ? `DENORT_BIN=${denortBin} ` : "";
      io.stdout(`${prefix}deno ${args.join(" ")}`);
      continue;
    }
    io.stderr(`Building ${outputPath(outDirectory, target)}`);
    const env = Deno.env.toObject();
    if (useDenortBin) env.DENORT_BIN = denortBin;
    else delete env.DENORT_BIN;
    const command = new Deno.Command("deno", {
      args,
      env,
      clearEnv: true,
      stdout: "inherit",
      stderr: "piped",
    });
    const output = await command.output();
    if (output.code !== 0) {
      failed.push(target);
      const stderr = new TextDecoder().decode(output.stderr);
      io.stderr(
        describeCompileFailure(target, { stderr, hostTarget, denortBin }),
      );
    }
  }
  if (failed.length > 0) {
    io.stderr(
      `${failed.length} of ${targets.length} targets failed: ${
        failed.join(", ")
      }`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args, processIo));
}
