/**
 * The IAM API's job record and its validation.
 *
 * The server is ASP.NET: property names are camelCase but some deployments
 * send PascalCase, enums travel as strings compared case-insensitively, and
 * times without an offset are UTC. A job is validated on its own so that one
 * malformed record never hides the others.
 *
 * @module
 */
import { z } from "zod";

/** The states a job moves through, as the server spells them. */
export const JOB_STATUSES = [
  "Pending",
  "Scheduled",
  "Running",
  "Completed",
  "Failed",
] as const;
export type JobStatus = typeof JOB_STATUSES[number];

export const JOB_TYPES = ["OneOff", "Scheduled"] as const;
export type JobType = typeof JOB_TYPES[number];

/** A job as the orchestrator uses it, after validation. */
export interface Job {
  id: string;
  name: string;
  customer: string;
  scriptPath: string;
  containerImage: string;
  registryServer: string | null;
  registryUsername: string | null;
  registryPassword: string | null;
  parameters: Record<string, string>;
  jobType: JobType;
  isWhatIf: boolean;
  isPaused: boolean;
  schedule: string | null;
  status: JobStatus;
  createdAt: Date | null;
  startedAt: Date | null;
  completedAt: Date | null;
  scheduledFor: Date | null;
  assignedToOrchestratorId: string | null;
}

/** The outcome of validating one job record from the API. */
export type JobParseResult =
  | { ok: true; job: Job }
  | { ok: false; id: string | null; reason: string };

/** Every property of the wire format's Job, in camelCase. */
export const JOB_PROPERTIES = [
  "id",
  "name",
  "customer",
  "scriptPath",
  "containerImage",
  "registryServer",
  "registryUsername",
  "registryPassword",
  "parameters",
  "jobType",
  "isWhatIf",
  "isPaused",
  "schedule",
  "status",
  "createdAt",
  "startedAt",
  "completedAt",
  "scheduledFor",
  "assignedToOrchestratorId",
] as const;

const PROPERTY_BY_LOWER_NAME = new Map<string, string>(
  JOB_PROPERTIES.map((name) => [name.toLowerCase(), name]),
);

// A GUID in its usual textual form; braces and case vary between clients.
const GUID_PATTERN =
  /^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$/;

// ISO 8601 with an explicit offset or `Z`; anything else is read as UTC.
const HAS_OFFSET = /(?:Z|[+-]\d{2}:?\d{2})$/i;

function enumOf<T extends string>(values: readonly T[], label: string) {
  return z.unknown().transform((value, context): T => {
    if (typeof value === "number") {
      context.addIssue({
        code: "custom",
        message: `${label} is the number ${value}, but the two IAM API ` +
          `generations number it differently; the server must send it as ` +
          `a string (one of ${values.join(", ")})`,
      });
      return z.NEVER;
    }
    if (typeof value !== "string") {
      context.addIssue({
        code: "custom",
        message: `${label} must be a string, one of ${values.join(", ")}`,
      });
      return z.NEVER;
    }
    const match = values.find((v) => v.toLowerCase() === value.toLowerCase());
    if (match === undefined) {
      context.addIssue({
        code: "custom",
        message: `${label} "${value}" is unknown; expected one of ${
          values.join(", ")
        }`,
      });
      return z.NEVER;
    }
    return match;
  });
}

const optionalString = z.string().nullish().transform((v) => v ?? null);

const dateTime = z.string().nullish().transform((value, context) => {
  if (value === null || value === undefined || value === "") return null;
  const text = HAS_OFFSET.test(value) ? value : `${value}Z`;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    context.addIssue({
      code: "custom",
      message: `"${value}" is not an ISO 8601 time`,
    });
    return z.NEVER;
  }
  return date;
});

const jobSchema = z.object({
  id: z.string().regex(GUID_PATTERN, "id must be a GUID string"),
  name: z.string().nullish().transform((v) => v ?? ""),
  customer: z.string().nullish().transform((v) => v ?? ""),
  scriptPath: z.string().nullish().transform((v) => v ?? ""),
  containerImage: z.string().min(1, "containerImage is missing"),
  registryServer: optionalString,
  registryUsername: optionalString,
  registryPassword: optionalString,
  parameters: z.record(z.string(), z.string()).nullish().transform((v) =>
    v ?? {}
  ),
  jobType: enumOf(JOB_TYPES, "jobType"),
  isWhatIf: z.boolean().nullish().transform((v) => v ?? false),
  isPaused: z.boolean().nullish().transform((v) => v ?? false),
  schedule: optionalString,
  status: enumOf(JOB_STATUSES, "status"),
  createdAt: dateTime,
  startedAt: dateTime,
  completedAt: dateTime,
  scheduledFor: dateTime,
  assignedToOrchestratorId: optionalString,
});

/**
 * Maps property names to their camelCase spelling, whatever their case.
 * Unknown properties are dropped, as the server's clients ignore them.
 */
function normalizePropertyNames(
  record: Record<string, unknown>,
): Record<string, unknown> {
  const normalized: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) {
    const known = PROPERTY_BY_LOWER_NAME.get(name.toLowerCase());
    if (known !== undefined) normalized[known] = value;
  }
  return normalized;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns the job's id when the record has a usable one, else null. */
export function findJobId(value: unknown): string | null {
  if (!isRecord(value)) return null;
  const id = normalizePropertyNames(value).id;
  return typeof id === "string" && GUID_PATTERN.test(id) ? id : null;
}

/** A scheduled job's id and cron expression, read without validation. */
export interface ScheduledJobKey {
  id: string;
  schedule: string | null;
}

const LISTED_STATUSES = new Set(["pending", "scheduled"]);

/**
 * Reads the id and schedule of a record that is a Pending or Scheduled job
 * of type Scheduled with a GUID id, without validating its other fields.
 * Returns null for any other record, which then needs `parseJob`.
 *
 * A poll lists every scheduled job each time. Reading only these fields
 * lets it skip the full validation of the jobs already registered, which
 * took 125 to 200 ms per poll of 10,000 jobs. Such a job is validated in
 * full when it fires.
 */
export function peekScheduledJob(value: unknown): ScheduledJobKey | null {
  if (!isRecord(value)) return null;

  let id: unknown;
  let jobType: unknown;
  let status: unknown;
  let schedule: unknown;
  // Reads four fields whatever their case without copying the record.
  for (const name in value) {
    switch (name.toLowerCase()) {
      case "id":
        id = value[name];
        break;
      case "jobtype":
        jobType = value[name];
        break;
      case "status":
        status = value[name];
        break;
      case "schedule":
        schedule = value[name];
        break;
    }
  }

  if (typeof id !== "string" || !GUID_PATTERN.test(id)) return null;
  if (typeof jobType !== "string" || jobType.toLowerCase() !== "scheduled") {
    return null;
  }
  if (
    typeof status !== "string" || !LISTED_STATUSES.has(status.toLowerCase())
  ) {
    return null;
  }
  if (typeof schedule === "string") {
    return { id: id.replace(/[{}]/g, ""), schedule };
  }
  if (schedule === null || schedule === undefined) {
    return { id: id.replace(/[{}]/g, ""), schedule: null };
  }
  return null;
}

/**
 * Validates one job record from the API.
 *
 * @returns the job, or the reason it is malformed and its id when it has one
 *   (so that the caller can fail that job on the server)
 */
export function parseJob(value: unknown): JobParseResult {
  if (!isRecord(value)) {
    return { ok: false, id: null, reason: "job is not a JSON object" };
  }
  const result = jobSchema.safeParse(normalizePropertyNames(value));
  if (result.success) {
    const job = result.data;
    return { ok: true, job: { ...job, id: job.id.replace(/[{}]/g, "") } };
  }
  const reason = result.error.issues
    .map((issue) => {
      const path = issue.path.join(".");
      return path === "" ? issue.message : `${path}: ${issue.message}`;
    })
    .join("; ");
  return { ok: false, id: findJobId(value), reason };
}

/** Level of a log entry, as the API's `POST /api/logs` takes it. */
export type LogLevel = "Info" | "Warning" | "Error" | "Debug";

/** Origin of a log entry: the daemon itself or the job's container. */
export type LogSource = "orchestrator" | "container";

/** One entry for `POST /api/logs`; the server stamps the time. */
export interface LogEntry {
  jobId: string;
  message: string;
  level: LogLevel;
  source: LogSource;
}
