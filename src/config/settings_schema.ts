/**
 * Every configuration key the daemon reads, with its default and the form
 * it expects. Keys follow the previous .NET service: `Section:Key`, read
 * case-insensitively, with values that may arrive as JSON values from
 * `appsettings.json` or as strings from the environment and flags.
 *
 * @module
 */
import { z } from "zod";

type Context = z.core.$RefinementCtx;

function fail(context: Context, expected: string): never {
  context.addIssue({ code: "custom", message: expected });
  return z.NEVER as never;
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null ||
    (typeof value === "string" && value.trim() === "");
}

function toNumber(value: unknown): number | null {
  if (typeof value === "number") return value;
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(text)) return null;
  return Number(text);
}

/** Builds the schema of a number within bounds; `integer` rejects fractions. */
function numberSetting(
  fallback: number,
  options: { min: number; max?: number; integer?: boolean; unit: string },
) {
  const { min, max = Number.MAX_SAFE_INTEGER, integer = false, unit } = options;
  const kind = integer ? "a whole number" : "a number";
  const range = max === Number.MAX_SAFE_INTEGER
    ? `${min} or more`
    : `from ${min} to ${max}`;
  const expected = `${kind} of ${unit}, ${range}`;
  return z.unknown().transform((value, context): number => {
    if (isBlank(value)) return fallback;
    const number = toNumber(value);
    if (number === null || !Number.isFinite(number)) {
      return fail(context, expected);
    }
    if (integer && !Number.isInteger(number)) return fail(context, expected);
    if (number < min || number > max) return fail(context, expected);
    return number;
  });
}

/** Builds the schema of an optional whole number, such as a port that turns a server on. */
function optionalIntegerSetting(
  options: { min: number; max: number; unit: string },
) {
  const expected =
    `a whole number of ${options.unit} from ${options.min} to ${options.max}, or empty to turn it off`;
  return z.unknown().transform((value, context): number | null => {
    if (isBlank(value)) return null;
    const number = toNumber(value);
    if (
      number === null || !Number.isInteger(number) || number < options.min ||
      number > options.max
    ) {
      return fail(context, expected);
    }
    return number;
  });
}

function booleanSetting(fallback: boolean) {
  return z.unknown().transform((value, context): boolean => {
    if (isBlank(value)) return fallback;
    if (typeof value === "boolean") return value;
    const text = String(value).trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(text)) return true;
    if (["false", "0", "no", "off"].includes(text)) return false;
    return fail(context, "true or false");
  });
}

function enumSetting<T extends string>(values: readonly T[], fallback: T) {
  const expected = `one of ${values.join(", ")}`;
  return z.unknown().transform((value, context): T => {
    if (isBlank(value)) return fallback;
    if (typeof value !== "string") return fail(context, expected);
    const match = values.find((v) =>
      v.toLowerCase() === value.trim().toLowerCase()
    );
    return match ?? fail(context, expected);
  });
}

function textSetting(fallback: string) {
  return z.unknown().transform((value, context): string => {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== "string") return fail(context, "a string");
    return value.trim();
  });
}

/** Builds the schema of a list, from a JSON array or a comma-separated string. */
function listSetting(fallback: string[]) {
  return z.unknown().transform((value, context): string[] => {
    if (isBlank(value)) return fallback;
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      return value.map((v) => v.trim()).filter((v) => v !== "");
    }
    if (typeof value === "string") {
      return value.split(",").map((v) => v.trim()).filter((v) => v !== "");
    }
    return fail(context, "a list of strings, or one comma-separated string");
  });
}

function urlSetting(fallback: string) {
  const expected = "an http:// or https:// URL, as in http://localhost:5000";
  return z.unknown().transform((value, context): string => {
    const text = isBlank(value) ? fallback : value;
    if (typeof text !== "string") return fail(context, expected);
    let url: URL;
    try {
      url = new URL(text.trim());
    } catch {
      return fail(context, expected);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return fail(context, expected);
    }
    return url.href.replace(/\/+$/, "");
  });
}

export const PULL_POLICIES = ["IfNotPresent", "Always", "Never"] as const;
export type PullPolicy = typeof PULL_POLICIES[number];

export const SHUTDOWN_MODES = ["Detach", "Stop"] as const;
export const BACKENDS = ["Docker", "Swarm"] as const;
/** `Auto` fetches certificates when the server has the endpoint. */
export const CERTIFICATE_MODES = ["Auto", "true", "false"] as const;
export const SCHEDULE_MODES = ["Orchestrator", "Server"] as const;
export const OVERLAP_POLICIES = ["Skip", "Allow"] as const;
export const LOG_LEVELS = [
  "Trace",
  "Debug",
  "Information",
  "Warning",
  "Error",
  "Critical",
] as const;
export const LOG_FORMATS = ["Auto", "Text", "Json"] as const;

/**
 * The raw sections, as in `appsettings.json`. Each field turns whatever the
 * file, the environment or a flag gave into a typed value, or reports the
 * form it expects.
 */
export const settingsSchema = z.object({
  ApiSettings: z.object({
    BaseUrl: urlSetting("http://localhost:5000"),
    PollingIntervalSeconds: numberSetting(10, {
      min: 0.1,
      max: 86400,
      unit: "seconds",
    }),
    RequestTimeoutSeconds: numberSetting(30, {
      min: 1,
      max: 3600,
      unit: "seconds",
    }),
    Token: textSetting(""),
    TokenFile: textSetting(""),
    Username: textSetting(""),
    Password: textSetting(""),
    PasswordFile: textSetting(""),
    CaCertFile: textSetting(""),
  }),
  ContainerSettings: z.object({
    DefaultTimeout: numberSetting(3600, {
      min: 1,
      integer: true,
      unit: "seconds",
    }),
    DockerEndpoint: textSetting(""),
    MaxConcurrentJobs: numberSetting(4, {
      min: 1,
      max: 1000,
      integer: true,
      unit: "jobs",
    }),
    PullPolicy: enumSetting(PULL_POLICIES, "IfNotPresent"),
    StopGraceSeconds: numberSetting(10, {
      min: 0,
      max: 3600,
      integer: true,
      unit: "seconds",
    }),
    Backend: enumSetting(BACKENDS, "Docker"),
    Placement: listSetting([]),
    MemoryLimitMb: numberSetting(1024, {
      min: 0,
      max: 1048576,
      integer: true,
      unit: "MiB (0 turns the limit off)",
    }),
    CpuLimit: numberSetting(1, {
      min: 0,
      max: 1024,
      unit: "CPUs (0 turns the limit off)",
    }),
    PidsLimit: numberSetting(512, {
      min: 0,
      max: 4194304,
      integer: true,
      unit: "processes (0 turns the limit off)",
    }),
    NetworkMode: textSetting("bridge"),
    ReadOnlyRootFilesystem: booleanSetting(false),
    TmpfsSizeMb: numberSetting(64, {
      min: 1,
      max: 65536,
      integer: true,
      unit: "MiB",
    }),
    User: textSetting(""),
    DropCapabilities: booleanSetting(false),
    NoNewPrivileges: booleanSetting(true),
  }),
  CustomerSettings: z.object({
    CustomerName: textSetting(""),
  }),
  OrchestratorSettings: z.object({
    StateDirectory: textSetting("state"),
    OrchestratorId: textSetting(""),
    ShutdownGraceSeconds: numberSetting(30, {
      min: 0,
      max: 86400,
      integer: true,
      unit: "seconds",
    }),
    OnShutdown: enumSetting(SHUTDOWN_MODES, "Detach"),
    StatusPort: optionalIntegerSetting({ min: 1, max: 65535, unit: "port" }),
    StatusHost: textSetting("127.0.0.1"),
  }),
  ScheduleSettings: z.object({
    Mode: enumSetting(SCHEDULE_MODES, "Orchestrator"),
    TimeZone: textSetting("UTC"),
    OverlapPolicy: enumSetting(OVERLAP_POLICIES, "Skip"),
    CatchUpWindowSeconds: numberSetting(0, {
      min: 0,
      integer: true,
      unit: "seconds",
    }),
  }),
  CertificateSettings: z.object({
    Enabled: enumSetting(CERTIFICATE_MODES, "Auto"),
    WarnDays: numberSetting(30, {
      min: 0,
      max: 3650,
      integer: true,
      unit: "days",
    }),
  }),
  LogSettings: z.object({
    MaxLineBytes: numberSetting(65536, {
      min: 1024,
      max: 16 * 1024 * 1024,
      integer: true,
      unit: "bytes",
    }),
    MaxEntryBytes: numberSetting(32768, {
      min: 1024,
      max: 16 * 1024 * 1024,
      integer: true,
      unit: "bytes",
    }),
    FlushIntervalMs: numberSetting(200, {
      min: 0,
      max: 60000,
      integer: true,
      unit: "milliseconds",
    }),
    MaxJobLogBytes: numberSetting(100 * 1024 * 1024, {
      min: 1024,
      integer: true,
      unit: "bytes",
    }),
    SecretParameterPatterns: listSetting([]),
    EchoContainerOutput: booleanSetting(false),
  }),
  Logging: z.object({
    Level: enumSetting(LOG_LEVELS, "Information"),
    Format: enumSetting(LOG_FORMATS, "Auto"),
  }),
});

/** The sections and keys as the raw layers hold them. */
export type RawSettings = z.input<typeof settingsSchema>;
export type ParsedSettings = z.output<typeof settingsSchema>;

/** Every known key as `Section:Key`, in schema order. */
export const SETTING_KEYS: readonly string[] = Object.entries(
  settingsSchema.shape,
).flatMap(([section, schema]) =>
  Object.keys(schema.shape).map((key) => `${section}:${key}`)
);

/** Keys whose value is a list, so `Key__0`, `Key__1` build it up. */
export const LIST_KEYS: ReadonlySet<string> = new Set([
  "LogSettings:SecretParameterPatterns",
  "ContainerSettings:Placement",
]);
