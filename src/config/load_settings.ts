/**
 * Resolves the daemon's configuration once at startup from four layers:
 * command-line flags, then environment variables, then `appsettings.json`,
 * then defaults. Nothing else in the daemon reads the environment.
 *
 * @module
 */
import {
  defaultDockerEndpoint,
  type DockerEndpoint,
  type DockerTls,
  parseDockerEndpoint,
} from "./docker_endpoint.ts";
import { validateHardening } from "../runtime/container_hardening.ts";
import { parseJsonWithComments } from "./json_with_comments.ts";
import {
  LIST_KEYS,
  type ParsedSettings,
  SETTING_KEYS,
  settingsSchema,
} from "./settings_schema.ts";
import type { Settings } from "./settings.ts";

/** The origin of a configuration value, for error messages. */
export type SettingSource =
  | { kind: "default" }
  | { kind: "file"; path: string }
  | { kind: "environment"; name: string }
  | { kind: "flag"; name: string };

/** One invalid value: the key, the value given, its source and the form. */
export interface SettingProblem {
  key: string;
  value: unknown;
  source: SettingSource;
  expected: string;
}

/** Invalid configuration; the message lists every problem, one per line. */
export class ConfigError extends Error {
  readonly problems: readonly SettingProblem[];

  constructor(problems: SettingProblem[], message?: string) {
    super(message ?? problems.map(describeProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

export interface LoadSettingsOptions {
  /** Path of the settings file; `appsettings.json` in the working directory when unset. */
  configPath?: string;
  /** Environment variables; the process environment when unset. */
  env?: Record<string, string>;
  /** Values from flags, keyed `Section:Key`, with the flag's name. */
  flags?: ReadonlyArray<{ key: string; value: string; flag: string }>;
}

/** Settings with the warnings found while reading them. */
export interface LoadedSettings {
  settings: Settings;
  warnings: string[];
  /** The settings file read, or null when there was none. */
  configPath: string | null;
}

interface Layered {
  value: unknown;
  source: SettingSource;
}

const KEY_BY_LOWER_NAME = new Map(
  SETTING_KEYS.map((key) => [key.toLowerCase(), key]),
);

const OWN_SECTIONS = new Set(
  SETTING_KEYS.map((key) => key.split(":")[0].toLowerCase()),
);

const SECTION_NAMES = [
  ...new Set(SETTING_KEYS.map((key) => key.split(":")[0])),
];

/** Number of single-character edits that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * Returns the section of ours that an unknown section name is a likely typo
 * of, or null. Other sections of an ASP.NET settings file, such as
 * `AllowedHosts`, are far from every name of ours and stay silent.
 */
function likelySection(name: string): string | null {
  for (const section of SECTION_NAMES) {
    if (editDistance(name.toLowerCase(), section.toLowerCase()) <= 2) {
      return section;
    }
  }
  return null;
}

function describeSource(source: SettingSource): string {
  switch (source.kind) {
    case "default":
      return "the default";
    case "file":
      return `file ${source.path}`;
    case "environment":
      return `environment variable ${source.name}`;
    case "flag":
      return `flag ${source.name}`;
  }
}

function describeProblem(problem: SettingProblem): string {
  const shown = typeof problem.value === "string"
    ? `"${problem.value}"`
    : JSON.stringify(problem.value);
  return `Invalid ${problem.key}: ${shown} from ` +
    `${describeSource(problem.source)}; expected ${problem.expected}`;
}

async function readSettingsFile(
  path: string,
  explicit: boolean,
): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound && !explicit) return null;
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigError(
        [],
        `Cannot read settings file ${path}: Deno permission missing; ` +
          `run with --allow-read=${path}`,
      );
    }
    throw new ConfigError(
      [],
      `Cannot read settings file ${path}: ${(error as Error).message}`,
    );
  }
  let parsed: unknown;
  try {
    // Visual Studio saves appsettings.json with a byte order mark.
    parsed = parseJsonWithComments(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new ConfigError(
      [],
      `Settings file ${path} is not valid JSON: ${(error as Error).message}; ` +
        `fix the syntax or point --config at another file`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      [],
      `Settings file ${path} must contain a JSON object of sections, ` +
        `as in {"ApiSettings": {"BaseUrl": "http://localhost:5000"}}`,
    );
  }
  return parsed as Record<string, unknown>;
}

function collectFileLayer(
  file: Record<string, unknown>,
  path: string,
  layers: Map<string, Layered>,
  warnings: string[],
): void {
  for (const [section, content] of Object.entries(file)) {
    if (!OWN_SECTIONS.has(section.toLowerCase())) {
      const likely = likelySection(section);
      if (likely !== null) {
        warnings.push(
          `Unknown section ${section} in ${path}; ignored. Did you mean ` +
            `${likely}?`,
        );
      }
      continue;
    }
    if (typeof content !== "object" || content === null) {
      warnings.push(`Section ${section} in ${path} is not an object; ignored`);
      continue;
    }
    for (const [name, value] of Object.entries(content)) {
      const key = KEY_BY_LOWER_NAME.get(`${section}:${name}`.toLowerCase());
      if (key === undefined) {
        // .NET's own logging section sits beside ours under `Logging`.
        if (section.toLowerCase() !== "logging") {
          warnings.push(`Unknown key ${section}:${name} in ${path}; ignored`);
        }
        continue;
      }
      layers.set(key, { value, source: { kind: "file", path } });
    }
  }
}

function collectEnvironmentLayer(
  env: Record<string, string>,
  layers: Map<string, Layered>,
  warnings: string[],
): void {
  const lists = new Map<string, Array<[number, string]>>();
  for (const [name, value] of Object.entries(env)) {
    // .NET reads `Section__Key` and, where the shell allows it, `Section:Key`.
    const separator = name.includes("__") ? "__" : ":";
    if (!name.includes(separator)) continue;
    const parts = name.split(separator);
    const key = KEY_BY_LOWER_NAME.get(
      `${parts[0]}:${parts[1]}`.toLowerCase(),
    );
    if (key === undefined) continue;
    if (parts.length === 2) {
      const earlier = layers.get(key);
      if (earlier?.source.kind === "environment" && earlier.value !== value) {
        warnings.push(
          `Environment variables ${earlier.source.name} and ${name} both ` +
            `set ${key} to different values; ${name} is used. Remove one`,
        );
      }
      layers.set(key, { value, source: { kind: "environment", name } });
    } else if (
      parts.length === 3 && LIST_KEYS.has(key) && /^\d+$/.test(parts[2])
    ) {
      const items = lists.get(key) ?? [];
      items.push([Number(parts[2]), value]);
      lists.set(key, items);
    }
  }
  for (const [key, items] of lists) {
    items.sort((a, b) => a[0] - b[0]);
    layers.set(key, {
      value: items.map(([, item]) => item),
      source: {
        kind: "environment",
        name: `${key.replace(":", "__")}__N`,
      },
    });
  }
}

function toRaw(layers: Map<string, Layered>): Record<string, unknown> {
  const raw: Record<string, Record<string, unknown>> = {};
  for (const key of SETTING_KEYS) {
    const [section, name] = key.split(":");
    raw[section] ??= {};
    raw[section][name] = layers.get(key)?.value;
  }
  return raw;
}

function resolveDockerEndpoint(
  parsed: ParsedSettings,
  env: Record<string, string>,
  layers: Map<string, Layered>,
): DockerEndpoint {
  const configured = parsed.ContainerSettings.DockerEndpoint;
  const dockerHost = env["DOCKER_HOST"] ?? "";
  const text = configured !== ""
    ? configured
    : dockerHost !== ""
    ? dockerHost
    : defaultDockerEndpoint();
  const certPath = env["DOCKER_CERT_PATH"] ?? "";
  const verifyText = env["DOCKER_TLS_VERIFY"] ?? "";
  const verify = verifyText !== "" && verifyText !== "0";
  const tls: DockerTls | null = certPath !== "" || verify
    ? {
      certPath: certPath !== ""
        ? certPath
        : `${env["HOME"] ?? env["USERPROFILE"] ?? ""}/.docker`,
      verify,
    }
    : null;
  try {
    return parseDockerEndpoint(text, tls);
  } catch {
    const key = "ContainerSettings:DockerEndpoint";
    const source: SettingSource = configured !== ""
      ? layers.get(key)?.source ?? { kind: "default" }
      : { kind: "environment", name: "DOCKER_HOST" };
    throw new ConfigError([{
      key,
      value: text,
      source,
      expected: "unix:///path, npipe://./pipe/name or tcp://host:port " +
        "with a port from 1 to 65535",
    }]);
  }
}

function validateTimeZone(
  timeZone: string,
  layers: Map<string, Layered>,
): string {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return timeZone;
  } catch {
    const key = "ScheduleSettings:TimeZone";
    throw new ConfigError([{
      key,
      value: timeZone,
      source: layers.get(key)?.source ?? { kind: "default" },
      expected: "an IANA time zone name such as UTC or Europe/Oslo",
    }]);
  }
}

function toSettings(
  parsed: ParsedSettings,
  dockerEndpoint: DockerEndpoint,
  timeZone: string,
): Settings {
  const api = parsed.ApiSettings;
  const container = parsed.ContainerSettings;
  const orchestrator = parsed.OrchestratorSettings;
  const schedule = parsed.ScheduleSettings;
  const log = parsed.LogSettings;
  return {
    api: {
      baseUrl: api.BaseUrl,
      pollingIntervalSeconds: api.PollingIntervalSeconds,
      requestTimeoutSeconds: api.RequestTimeoutSeconds,
      auth: {
        token: api.Token,
        tokenFile: api.TokenFile,
        username: api.Username,
        password: api.Password,
        passwordFile: api.PasswordFile,
      },
      caCertFile: api.CaCertFile,
    },
    container: {
      defaultTimeoutSeconds: container.DefaultTimeout,
      dockerEndpoint,
      maxConcurrentJobs: container.MaxConcurrentJobs,
      pullPolicy: container.PullPolicy,
      stopGraceSeconds: container.StopGraceSeconds,
      backend: container.Backend,
      placement: container.Placement,
      hardening: {
        memoryLimitMb: container.MemoryLimitMb,
        cpuLimit: container.CpuLimit,
        pidsLimit: container.PidsLimit,
        networkMode: container.NetworkMode === ""
          ? "bridge"
          : container.NetworkMode,
        readOnlyRootFilesystem: container.ReadOnlyRootFilesystem,
        tmpfsSizeMb: container.TmpfsSizeMb,
        user: container.User,
        dropCapabilities: container.DropCapabilities,
        noNewPrivileges: container.NoNewPrivileges,
      },
    },
    certificate: {
      enabled: parsed.CertificateSettings.Enabled,
      warnDays: parsed.CertificateSettings.WarnDays,
    },
    customer: {
      customerName: parsed.CustomerSettings.CustomerName === ""
        ? null
        : parsed.CustomerSettings.CustomerName,
    },
    orchestrator: {
      stateDirectory: orchestrator.StateDirectory === ""
        ? "state"
        : orchestrator.StateDirectory,
      orchestratorId: orchestrator.OrchestratorId === ""
        ? null
        : orchestrator.OrchestratorId,
      shutdownGraceSeconds: orchestrator.ShutdownGraceSeconds,
      onShutdown: orchestrator.OnShutdown,
      statusPort: orchestrator.StatusPort,
      statusHost: orchestrator.StatusHost === ""
        ? "127.0.0.1"
        : orchestrator.StatusHost,
    },
    schedule: {
      mode: schedule.Mode,
      timeZone,
      overlapPolicy: schedule.OverlapPolicy,
      catchUpWindowSeconds: schedule.CatchUpWindowSeconds,
    },
    log: {
      maxLineBytes: log.MaxLineBytes,
      maxEntryBytes: log.MaxEntryBytes,
      flushIntervalMs: log.FlushIntervalMs,
      maxJobLogBytes: log.MaxJobLogBytes,
      secretParameterPatterns: log.SecretParameterPatterns,
      echoContainerOutput: log.EchoContainerOutput,
    },
    logging: {
      level: parsed.Logging.Level,
      format: parsed.Logging.Format,
    },
  };
}

/**
 * Reads every environment variable, since a setting may come from any
 * `Section__Key` or `Section:Key` name in any case.
 *
 * @throws {ConfigError} when Deno grants access to only some variables
 */
function readEnvironment(): Record<string, string> {
  try {
    return Deno.env.toObject();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new ConfigError(
      [],
      "Cannot read the environment: settings may come from any " +
        "Section__Key variable, so the daemon needs --allow-env for all " +
        `variables, not a list (${error.message})`,
    );
  }
}

/**
 * Reads and validates the configuration.
 *
 * @throws {ConfigError} naming each invalid key, the value given, where it
 *   came from and the form expected
 */
export async function loadSettings(
  options: LoadSettingsOptions = {},
): Promise<LoadedSettings> {
  const env = options.env ?? readEnvironment();
  const explicitPath = options.configPath !== undefined;
  const path = options.configPath ?? "appsettings.json";
  const warnings: string[] = [];
  const layers = new Map<string, Layered>();

  const file = await readSettingsFile(path, explicitPath);
  if (file !== null) collectFileLayer(file, path, layers, warnings);
  collectEnvironmentLayer(env, layers, warnings);
  for (const { key, value, flag } of options.flags ?? []) {
    const known = KEY_BY_LOWER_NAME.get(key.toLowerCase());
    if (known === undefined) {
      throw new ConfigError(
        [],
        `Unknown setting "${key}" in ${flag}; expected Section:Key, ` +
          `such as ApiSettings:BaseUrl`,
      );
    }
    layers.set(known, { value, source: { kind: "flag", name: flag } });
  }

  const result = settingsSchema.safeParse(toRaw(layers));
  if (!result.success) {
    const problems = result.error.issues.map((issue): SettingProblem => {
      const key = issue.path.join(":");
      const layer = layers.get(key);
      return {
        key,
        value: layer?.value,
        source: layer?.source ?? { kind: "default" },
        expected: issue.message,
      };
    });
    throw new ConfigError(problems);
  }
  const parsed = result.data;
  const dockerEndpoint = resolveDockerEndpoint(parsed, env, layers);
  const timeZone = validateTimeZone(parsed.ScheduleSettings.TimeZone, layers);
  const settings = toSettings(parsed, dockerEndpoint, timeZone);
  try {
    validateHardening(settings.container.hardening);
  } catch (error) {
    throw new ConfigError([], (error as Error).message);
  }
  return {
    settings,
    warnings,
    configPath: file === null ? null : path,
  };
}
