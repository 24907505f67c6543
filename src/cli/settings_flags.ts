/**
 * Command-line flags that set configuration keys, shared by the commands
 * that load settings.
 *
 * @module
 */
import type { ParseArgsConfig } from "node:util";

/** Flags that stand for one configuration key each. */
export const KEY_FLAGS: Record<string, { key: string; help: string }> = {
  "api-url": {
    key: "ApiSettings:BaseUrl",
    help: "Base URL of the IAM API (default http://localhost:5000)",
  },
  "customer": {
    key: "CustomerSettings:CustomerName",
    help: "Serve only this customer (default: all customers)",
  },
  "polling-interval": {
    key: "ApiSettings:PollingIntervalSeconds",
    help: "Seconds between polls, 0.1 or more (default 10)",
  },
  "docker-endpoint": {
    key: "ContainerSettings:DockerEndpoint",
    help: "Engine address: unix:///path, npipe://./pipe/name or " +
      "tcp://host:port (default DOCKER_HOST, then the platform's socket)",
  },
  "max-concurrent-jobs": {
    key: "ContainerSettings:MaxConcurrentJobs",
    help: "Jobs run at the same time (default 4)",
  },
  "state-dir": {
    key: "OrchestratorSettings:StateDirectory",
    help: "Directory of the state database (default ./state)",
  },
};

/** parseArgs options for the settings flags, `--config` and `--set`. */
export const SETTINGS_OPTIONS: NonNullable<ParseArgsConfig["options"]> = {
  config: { type: "string" },
  set: { type: "string", multiple: true },
  ...Object.fromEntries(
    Object.keys(KEY_FLAGS).map((name) => [name, { type: "string" as const }]),
  ),
};

/** Help lines for the settings flags. */
export const SETTINGS_HELP = [
  "  --config FILE            Settings file (default ./appsettings.json)",
  "  --set Section:Key=VALUE  Set any configuration key; repeatable",
  ...Object.entries(KEY_FLAGS).map(([name, { help }]) =>
    `  --${name.padEnd(22)} ${help}`
  ),
];

/**
 * Turns parsed flag values into `loadSettings` flag layers.
 *
 * @throws {TypeError} when a `--set` value has no `=`
 */
export function settingsFlags(
  values: Record<string, unknown>,
): Array<{ key: string; value: string; flag: string }> {
  const flags: Array<{ key: string; value: string; flag: string }> = [];
  for (const assignment of (values.set as string[] | undefined) ?? []) {
    const equals = assignment.indexOf("=");
    if (equals <= 0) {
      throw new TypeError(
        `Invalid --set "${assignment}": expected Section:Key=VALUE, ` +
          `as in --set ApiSettings:BaseUrl=http://localhost:5000`,
      );
    }
    flags.push({
      key: assignment.slice(0, equals).trim(),
      value: assignment.slice(equals + 1),
      flag: "--set",
    });
  }
  for (const [name, { key }] of Object.entries(KEY_FLAGS)) {
    const value = values[name];
    if (typeof value === "string") {
      flags.push({ key, value, flag: `--${name}` });
    }
  }
  return flags;
}
