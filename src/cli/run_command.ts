/**
 * `iam-orchestrator run`: the daemon against the configured IAM API.
 *
 * @module
 */
import { ConfigError, loadSettings } from "../config/load_settings.ts";
import { startDaemon } from "../daemon/start_daemon.ts";
import { daemonLogger, setupLogging } from "../logging/setup_logging.ts";
import { VERSION } from "../version.ts";
import { parseCommandArgs } from "./command_args.ts";
import type { CommandIo } from "./command_io.ts";
import { installSignalHandlers } from "./signals.ts";
import {
  SETTINGS_HELP,
  SETTINGS_OPTIONS,
  settingsFlags,
} from "./settings_flags.ts";

/**
 * Exit code after the IAM API requested an update: EX_TEMPFAIL of
 * sysexits.h, so a supervisor that restarts on failure starts the new
 * version.
 */
export const UPDATE_EXIT_CODE = 75;

const HELP = [
  "Usage: iam-orchestrator run [options]",
  "",
  "Polls the IAM API for pending jobs and runs each in a Docker container.",
  "Settings come from flags, then environment variables such as",
  "ApiSettings__BaseUrl, then appsettings.json, then defaults.",
  "",
  "Options:",
  ...SETTINGS_HELP,
  "  --help                   Show this help",
  "  --version                Show the version",
].join("\n");

/** Runs the daemon until SIGINT or SIGTERM; returns the exit code. */
export async function runRunCommand(
  args: string[],
  io: CommandIo,
): Promise<number> {
  const parsed = parseCommandArgs(args, io, {
    options: SETTINGS_OPTIONS,
    help: HELP,
  });
  if ("exitCode" in parsed) return parsed.exitCode;
  const { values } = parsed;

  let loaded;
  try {
    loaded = await loadSettings({
      configPath: values.config as string | undefined,
      flags: settingsFlags(values),
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TypeError) {
      io.stderr(error.message);
      return 2;
    }
    throw error;
  }
  await setupLogging(loaded.settings.logging);
  const logger = daemonLogger("main");
  for (const warning of loaded.warnings) logger.warn(warning);

  let running;
  try {
    running = await startDaemon(loaded.settings, { version: VERSION });
  } catch (error) {
    logger.fatal("Cannot start: {error}", { error: (error as Error).message });
    return 1;
  }
  const stopped = installSignalHandlers(() => running.shutdown(), logger);
  let fatal: Error | null = null;
  try {
    await running.polling;
  } catch (error) {
    fatal = error as Error;
    logger.fatal("Cannot go on: {error}", { error: fatal.message });
  }
  await running.shutdown();
  stopped.dispose();
  if (fatal !== null) return 1;
  if (running.daemon.updateRequested) {
    logger.info(
      "Exiting with code {code} so that the supervisor starts the new version",
      { code: UPDATE_EXIT_CODE },
    );
    return UPDATE_EXIT_CODE;
  }
  return 0;
}
