/**
 * `iam-orchestrator dev`: the example jobs, run by the daemon in real
 * containers against the reference IAM API served in the same process on
 * loopback. It prints what the API sees, then exits once every job has
 * finished, unless `--keep-running` is set.
 *
 * @module
 */
import { ConfigError, loadSettings } from "../config/load_settings.ts";
import { startDaemon } from "../daemon/start_daemon.ts";
import { daemonLogger, setupLogging } from "../logging/setup_logging.ts";
import { formatEvent, readJobs } from "../reference_api/serve_command.ts";
import { startReferenceApi } from "../reference_api/server.ts";
import { VERSION } from "../version.ts";
import { parseCommandArgs } from "./command_args.ts";
import type { CommandIo } from "./command_io.ts";
import { installSignalHandlers } from "./signals.ts";
import {
  SETTINGS_HELP,
  SETTINGS_OPTIONS,
  settingsFlags,
} from "./settings_flags.ts";

const HELP = [
  "Usage: iam-orchestrator dev [options]",
  "",
  "Serves the reference IAM API on loopback with the jobs of a file, runs",
  "the daemon against it and prints each status change and log entry.",
  "",
  "Options:",
  "  --jobs FILE              Jobs to load (default examples/jobs.json)",
  "  --keep-running           Go on after every job finished, until Ctrl+C",
  ...SETTINGS_HELP,
  "  --help                   Show this help",
].join("\n");

const FINAL = new Set(["Completed", "Failed"]);

/** Runs the demo; returns 0 when every job finished, 1 otherwise. */
export async function runDevCommand(
  args: string[],
  io: CommandIo,
): Promise<number> {
  const parsed = parseCommandArgs(args, io, {
    options: {
      ...SETTINGS_OPTIONS,
      jobs: { type: "string", default: "examples/jobs.json" },
      "keep-running": { type: "boolean" },
    },
    help: HELP,
  });
  if ("exitCode" in parsed) return parsed.exitCode;
  const { values } = parsed;

  let jobs;
  try {
    jobs = await readJobs(values.jobs as string, Deno.readTextFile);
  } catch (error) {
    io.stderr(`Cannot read the jobs file: ${(error as Error).message}`);
    return 2;
  }
  const api = await startReferenceApi({
    jobs,
    onEvent: (event) => io.stdout(`[api] ${formatEvent(event)}`),
  });
  io.stdout(`[api] reference IAM API on ${api.url}`);

  let settings;
  try {
    const stateDirectory = await Deno.makeTempDir({ prefix: "iam-dev-" });
    ({ settings } = await loadSettings({
      configPath: values.config as string | undefined,
      flags: [
        { key: "ApiSettings:BaseUrl", value: api.url, flag: "dev" },
        {
          key: "ApiSettings:PollingIntervalSeconds",
          value: "0.5",
          flag: "dev",
        },
        // Readable lines beside the API's events, even through a pipe.
        { key: "Logging:Format", value: "Text", flag: "dev" },
        {
          key: "OrchestratorSettings:StateDirectory",
          value: stateDirectory,
          flag: "dev",
        },
        ...settingsFlags(values),
      ],
    }));
  } catch (error) {
    await api.close();
    if (error instanceof ConfigError || error instanceof TypeError) {
      io.stderr(error.message);
      return 2;
    }
    throw error;
  }
  await setupLogging(settings.logging);
  const logger = daemonLogger("dev");

  const running = await startDaemon(settings, { version: VERSION });
  const signals = installSignalHandlers(() => running.shutdown(), logger);
  const allFinished = () =>
    api.listJobs().every((job) => FINAL.has(job.status));
  while (!running.daemon.stopping) {
    if (!values["keep-running"] && allFinished()) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await running.shutdown();
  signals.dispose();
  await api.close();
  await Deno.remove(settings.orchestrator.stateDirectory, { recursive: true });

  io.stdout("");
  for (const job of api.listJobs()) {
    io.stdout(`${job.status.padEnd(10)} ${job.customer.padEnd(8)} ${job.name}`);
  }
  return allFinished() ? 0 : 1;
}
