/**
 * `iam-orchestrator healthcheck`: requests `GET /healthz` from the status
 * server of a running daemon, for a container image's HEALTHCHECK, which
 * has neither a shell nor curl.
 *
 * @module
 */
import { ConfigError, loadSettings } from "../config/load_settings.ts";
import { parseCommandArgs } from "./command_args.ts";
import type { CommandIo } from "./command_io.ts";
import { settingsFlags } from "./settings_flags.ts";

/** Default time in seconds that the request may take. */
export const DEFAULT_HEALTHCHECK_TIMEOUT_SECONDS = 5;

const HELP = [
  "Usage: iam-orchestrator healthcheck [options]",
  "",
  "Requests GET /healthz from the daemon's status server and exits 0 on",
  "status 200 and 1 otherwise (no answer, another status, a timeout, or no",
  "status port configured). Exits 2 on invalid options.",
  "",
  "Options:",
  "  --url URL                URL to request (default",
  "                           http://127.0.0.1:PORT/healthz, where PORT is",
  "                           OrchestratorSettings:StatusPort)",
  "  --timeout SECONDS        Time allowed for the answer, in seconds",
  `                           (default ${DEFAULT_HEALTHCHECK_TIMEOUT_SECONDS})`,
  "  --config FILE            Settings file (default ./appsettings.json)",
  "  --set Section:Key=VALUE  Set any configuration key; repeatable",
  "  --help                   Show this help",
  "  --version                Show the version",
].join("\n");

/**
 * Returns the host to connect to for a listening address: the loopback
 * address when the server listens on every address.
 */
export function connectHost(statusHost: string): string {
  if (statusHost === "" || statusHost === "0.0.0.0") return "127.0.0.1";
  if (statusHost === "::" || statusHost === "[::]") return "[::1]";
  return statusHost.includes(":") && !statusHost.startsWith("[")
    ? `[${statusHost}]`
    : statusHost;
}

/** Checks the daemon's liveness; returns 0 when healthy, 1 when not. */
export async function runHealthcheckCommand(
  args: string[],
  io: CommandIo,
): Promise<number> {
  const parsed = parseCommandArgs(args, io, {
    options: {
      url: { type: "string" },
      timeout: { type: "string" },
      config: { type: "string" },
      set: { type: "string", multiple: true },
    },
    help: HELP,
  });
  if ("exitCode" in parsed) return parsed.exitCode;
  const { values } = parsed;

  let timeoutSeconds = DEFAULT_HEALTHCHECK_TIMEOUT_SECONDS;
  if (typeof values.timeout === "string") {
    timeoutSeconds = Number(values.timeout);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
      io.stderr(
        `Invalid --timeout "${values.timeout}": expected a positive number ` +
          `of seconds, as in --timeout 5`,
      );
      return 2;
    }
  }

  let url: string;
  if (typeof values.url === "string") {
    url = values.url;
  } else {
    const resolved = await statusUrlFromSettings(values, io);
    if (resolved === null) return 1;
    url = resolved;
  }

  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
    const body = (await response.text()).trim();
    if (response.status === 200) {
      io.stdout(`Healthy: ${url} returned 200`);
      return 0;
    }
    io.stderr(
      `Unhealthy: ${url} returned ${response.status}` +
        (body === "" ? "" : `: ${body.slice(0, 500)}`),
    );
    return 1;
  } catch (error) {
    const reason = error instanceof DOMException &&
        error.name === "TimeoutError"
      ? `no answer within ${timeoutSeconds} s`
      : (error as Error).message;
    io.stderr(`Unhealthy: requesting ${url} failed: ${reason}`);
    return 1;
  }
}

/** Builds the /healthz URL from the settings, or reports why it cannot. */
async function statusUrlFromSettings(
  values: Record<string, unknown>,
  io: CommandIo,
): Promise<string | null> {
  let settings;
  try {
    settings = (await loadSettings({
      configPath: values.config as string | undefined,
      flags: settingsFlags(values),
    })).settings;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof TypeError) {
      io.stderr(`Unhealthy: ${error.message}`);
      return null;
    }
    throw error;
  }
  const { statusPort, statusHost } = settings.orchestrator;
  if (statusPort === null) {
    io.stderr(
      "Unhealthy: the status server is off; set " +
        "OrchestratorSettings:StatusPort (or the environment variable " +
        "OrchestratorSettings__StatusPort) or pass --url",
    );
    return null;
  }
  return `http://${connectHost(statusHost)}:${statusPort}/healthz`;
}
