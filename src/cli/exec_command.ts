/**
 * `iam-orchestrator exec`: runs one job locally, through the daemon's own
 * job runner (same environment, labels, timeout, masking), without the IAM
 * API, printing the container's output as it arrives.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ConfigError, loadSettings } from "../config/load_settings.ts";
import type { Settings } from "../config/settings.ts";
import {
  type JobReporter,
  JobRunner,
  type JobRunResult,
} from "../execution/job_runner.ts";
import { type Job, type LogEntry, parseJob } from "../iam_api/job.ts";
import { setupLogging } from "../logging/setup_logging.ts";
import { DockerBackend } from "../runtime/docker_backend.ts";
import { parseCommandArgs, USAGE_EXIT_CODE } from "./command_args.ts";
import type { CommandIo } from "./command_io.ts";
import { settingsFlags } from "./settings_flags.ts";

/** Exit code when the job failed before its container ran. */
export const EXEC_FAILED_EXIT_CODE = 1;
/** Exit code for invalid options, settings or job files. */
export const EXEC_USAGE_EXIT_CODE = USAGE_EXIT_CODE;
/** Exit code when the job reached its timeout, as GNU `timeout` uses. */
export const EXEC_TIMEOUT_EXIT_CODE = 124;
/** Exit code when SIGINT or SIGTERM stopped the job, as shells report SIGINT. */
export const EXEC_INTERRUPTED_EXIT_CODE = 130;

/** Prefix of the orchestrator's own notes on standard error. */
export const NOTE_PREFIX = "[iam-orchestrator]";

/** Milliseconds a container line waits before it is printed. */
const PRINT_FLUSH_MS = 1;

/** Flags of settings_flags.ts that `exec` accepts too. */
const SETTINGS_KEY_FLAGS = ["docker-endpoint", "state-dir"] as const;

const HELP = [
  "Usage: iam-orchestrator exec --image IMAGE [options]",
  "       iam-orchestrator exec --job FILE.json [options]",
  "",
  "Runs one job in a container as the daemon would (same environment,",
  "labels, timeout and secret masking) without the IAM API. The",
  "container's stdout and stderr lines go to this process's stdout and",
  `stderr; the orchestrator's notes go to stderr, prefixed ${NOTE_PREFIX}.`,
  "",
  "Exit code: the container's exit code; 1 when the job failed before its",
  `container ran; ${EXEC_TIMEOUT_EXIT_CODE} when it reached its timeout; ` +
  `${EXEC_INTERRUPTED_EXIT_CODE} when SIGINT or`,
  "SIGTERM stopped it; 2 for invalid options, settings or job files.",
  "",
  "Job options (not with --job):",
  "  --image IMAGE            Container image, as in busybox:1.36 (required)",
  "  --param KEY=VALUE        Job parameter, passed as an environment",
  "                           variable; repeatable (default: none)",
  "  --script PATH            Script path inside the image, passed as",
  '                           SCRIPT_PATH (default: "")',
  "  --what-if                Set WHAT_IF=True (default: WHAT_IF=False)",
  '  --name NAME              Job name, passed as JOB_NAME (default "exec")',
  "  --customer NAME          Customer, passed as CUSTOMER (default",
  '                           CustomerSettings:CustomerName, else "local")',
  "",
  "  --job FILE.json          Job record as the IAM API sends it; a missing",
  "                           id gets a random UUID, a missing jobType",
  "                           OneOff and a missing status Pending",
  "",
  "Run options:",
  "  --timeout SECONDS        Time allowed for the container, in whole",
  "                           seconds (default ContainerSettings:DefaultTimeout,",
  "                           3600)",
  "  --config FILE            Settings file (default ./appsettings.json)",
  "  --set Section:Key=VALUE  Set any configuration key; repeatable",
  "  --docker-endpoint URL   Engine address: unix:///path,",
  "                           npipe://./pipe/name or tcp://host:port",
  "                           (default DOCKER_HOST, then the platform's socket)",
  "  --state-dir DIR          Directory for the log spool file, used only when",
  "                           output backs up (default ./state)",
  "  --help                   Show this help",
  "  --version                Show the version",
].join("\n");

class UsageError extends Error {}

/** Options of {@linkcode runExecCommand}. */
export interface ExecCommandOptions {
  /**
   * Configures the process's log from `Logging:Level` and `Logging:Format`.
   * Tests that run the command more than once replace it, because the
   * default takes standard error's stream for the life of the process.
   *
   * @default {setupLogging}
   */
  setupLogging?: (logging: Settings["logging"]) => Promise<void>;
}

/** Runs one job and returns its exit code; see the help text for codes. */
export async function runExecCommand(
  args: string[],
  io: CommandIo,
  options: ExecCommandOptions = {},
): Promise<number> {
  const parsed = parseCommandArgs(args, io, {
    options: {
      image: { type: "string" },
      param: { type: "string", multiple: true },
      script: { type: "string" },
      "what-if": { type: "boolean" },
      name: { type: "string" },
      customer: { type: "string" },
      job: { type: "string" },
      timeout: { type: "string" },
      config: { type: "string" },
      set: { type: "string", multiple: true },
      ...Object.fromEntries(
        SETTINGS_KEY_FLAGS.map((name) => [name, { type: "string" as const }]),
      ),
    },
    help: HELP,
  });
  if ("exitCode" in parsed) return parsed.exitCode;
  const { values } = parsed;

  let settings: Settings;
  let job: Job;
  try {
    settings = await loadExecSettings(values);
    job = await buildJob(values, settings);
  } catch (error) {
    if (
      error instanceof UsageError || error instanceof ConfigError ||
      error instanceof TypeError
    ) {
      io.stderr(error.message);
      return EXEC_USAGE_EXIT_CODE;
    }
    throw error;
  }

  await (options.setupLogging ?? setupLogging)(settings.logging);
  const backend = new DockerBackend(settings.container.dockerEndpoint);
  try {
    await backend.describe();
  } catch (error) {
    io.stderr(`${NOTE_PREFIX} error: ${(error as Error).message}`);
    return EXEC_FAILED_EXIT_CODE;
  }

  const runner = new JobRunner({
    backend,
    reporter: printingReporter(io),
    settings: {
      ...settings,
      // The reporter prints every line, so the runner must not echo them
      // into the log too; lines are printed as soon as they end.
      log: {
        ...settings.log,
        echoContainerOutput: false,
        flushIntervalMs: PRINT_FLUSH_MS,
      },
    },
    // A fresh id, so that a daemon never takes this container for one of
    // its own after a restart.
    orchestratorId: `exec-${crypto.randomUUID().slice(0, 8)}`,
    // The reporter prints the runner's notes already; this category has no
    // sink, so they do not appear twice.
    logger: getLogger(["iam-orchestrator-exec", "job"]),
  });

  const interrupt = new AbortController();
  const signals = installInterruptHandlers(interrupt);
  let result: JobRunResult;
  try {
    result = await runner.run(job, { stopSignal: interrupt.signal });
  } finally {
    signals.dispose();
  }
  return execExitCode(result, interrupt.signal.aborted);
}

/** Maps a run's result to the command's exit code. */
export function execExitCode(
  result: JobRunResult,
  interrupted: boolean,
): number {
  if (result.status === "Completed") return 0;
  if (interrupted) return EXEC_INTERRUPTED_EXIT_CODE;
  if (result.timedOut) {
    return EXEC_TIMEOUT_EXIT_CODE;
  }
  if (result.exitCode === null || result.exitCode === 0) {
    return EXEC_FAILED_EXIT_CODE;
  }
  return result.exitCode;
}

async function loadExecSettings(
  values: Record<string, unknown>,
): Promise<Settings> {
  // `--customer` names the job's customer here, not the daemon's filter.
  const flags = settingsFlags({ ...values, customer: undefined });
  if (typeof values.timeout === "string") {
    flags.push({
      key: "ContainerSettings:DefaultTimeout",
      value: values.timeout,
      flag: "--timeout",
    });
  }
  const loaded = await loadSettings({
    configPath: values.config as string | undefined,
    flags,
  });
  return loaded.settings;
}

const JOB_FLAGS = ["image", "param", "script", "what-if", "name", "customer"];

async function buildJob(
  values: Record<string, unknown>,
  settings: Settings,
): Promise<Job> {
  const record = typeof values.job === "string"
    ? await readJobFile(values.job, values)
    : jobFromFlags(values, settings);
  const parsed = parseJob(record);
  if (!parsed.ok) {
    const source = typeof values.job === "string"
      ? `job file ${values.job}`
      : "the job options";
    throw new UsageError(`Invalid job in ${source}: ${parsed.reason}`);
  }
  // A job file without a name gets the same name as a job from the flags.
  return parsed.job.name === "" ? { ...parsed.job, name: "exec" } : parsed.job;
}

async function readJobFile(
  path: string,
  values: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const mixed = JOB_FLAGS.filter((name) => values[name] !== undefined);
  if (mixed.length > 0) {
    throw new UsageError(
      `--job cannot be combined with ${
        mixed.map((name) => `--${name}`).join(", ")
      }: set those fields in ${path} instead`,
    );
  }
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(
      `Cannot read job file ${path}: ${(error as Error).message}`,
    );
  }
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `Job file ${path} is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new UsageError(
      `Job file ${path} must contain one JSON object, as in ` +
        `{"containerImage": "busybox:1.36", "parameters": {"KEY": "value"}}`,
    );
  }
  const job = { ...record as Record<string, unknown> };
  const present = new Set(Object.keys(job).map((name) => name.toLowerCase()));
  if (!present.has("id")) job.id = crypto.randomUUID();
  if (!present.has("jobtype")) job.jobType = "OneOff";
  if (!present.has("status")) job.status = "Pending";
  return job;
}

function jobFromFlags(
  values: Record<string, unknown>,
  settings: Settings,
): Record<string, unknown> {
  if (typeof values.image !== "string") {
    throw new UsageError(
      "Missing --image IMAGE or --job FILE.json; run " +
        "`iam-orchestrator exec --help` for the options",
    );
  }
  return {
    id: crypto.randomUUID(),
    name: values.name ?? "exec",
    customer: values.customer ?? settings.customer.customerName ?? "local",
    scriptPath: values.script ?? "",
    containerImage: values.image,
    parameters: parseParameters((values.param as string[] | undefined) ?? []),
    jobType: "OneOff",
    isWhatIf: values["what-if"] === true,
    status: "Pending",
  };
}

/**
 * Turns `KEY=VALUE` strings into parameters; a later key wins.
 *
 * @throws {UsageError} when an item has no `=` or an empty key
 */
function parseParameters(items: string[]): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const item of items) {
    const equals = item.indexOf("=");
    if (equals <= 0) {
      throw new UsageError(
        `Invalid --param "${item}": expected KEY=VALUE, as in ` +
          `--param TENANT=contoso`,
      );
    }
    parameters[item.slice(0, equals)] = item.slice(equals + 1);
  }
  return parameters;
}

/** Returns a reporter that prints log entries instead of sending them. */
function printingReporter(io: CommandIo): JobReporter {
  return {
    reportStatus: () => Promise.resolve(),
    sendLog: (entry: LogEntry) => {
      const lines = entry.message.split("\n");
      if (entry.source === "container") {
        const write = entry.level === "Error" ? io.stderr : io.stdout;
        for (const line of lines) write(line);
      } else {
        const level = entry.level === "Info" || entry.level === "Debug"
          ? ""
          : ` ${entry.level.toLowerCase()}:`;
        for (const line of lines) io.stderr(`${NOTE_PREFIX}${level} ${line}`);
      }
      return Promise.resolve();
    },
  };
}

/**
 * Aborts `controller` on the first SIGINT or SIGTERM, so the runner stops
 * the container and removes it; a second signal exits at once.
 */
function installInterruptHandlers(
  controller: AbortController,
): { dispose(): void } {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  const listener = () => {
    if (controller.signal.aborted) Deno.exit(EXEC_INTERRUPTED_EXIT_CODE);
    controller.abort();
  };
  for (const signal of signals) Deno.addSignalListener(signal, listener);
  return {
    dispose() {
      for (const signal of signals) {
        Deno.removeSignalListener(signal, listener);
      }
    },
  };
}
