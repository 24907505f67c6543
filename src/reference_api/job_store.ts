/**
 * The reference API's jobs, kept in memory in creation order.
 *
 * Records are stored in their wire shape (camelCase properties, times as ISO
 * 8601 strings) so that a response serializes one record without conversion.
 *
 * @module
 */
import {
  JOB_PROPERTIES,
  JOB_STATUSES,
  JOB_TYPES,
  type JobStatus,
  type JobType,
} from "../iam_api/job.ts";

/** A job as the reference API stores and sends it. */
export interface JobRecord {
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
  createdAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
  scheduledFor: string | null;
  assignedToOrchestratorId: string | null;
}

type JobTimeProperty =
  | "createdAt"
  | "startedAt"
  | "completedAt"
  | "scheduledFor";

/**
 * A job to create or a patch to apply. Property names are matched
 * case-insensitively, times may be `Date` objects, and other properties are
 * stored and sent as given, so that tests can serve unusual records.
 */
export type JobInput =
  & Partial<Omit<JobRecord, JobTimeProperty>>
  & { [K in JobTimeProperty]?: string | Date | null }
  & Record<string, unknown>;

/** Registry credentials that `refresh-credentials` writes into a job. */
export interface RegistryCredentials {
  registryServer?: string | null;
  registryUsername: string | null;
  registryPassword: string | null;
}

const KNOWN_PROPERTIES: readonly (keyof JobRecord)[] = JOB_PROPERTIES;

const PROPERTY_BY_LOWER_NAME = new Map<string, string>(
  KNOWN_PROPERTIES.map((name) => [name.toLowerCase(), name]),
);

const TIME_PROPERTIES = new Set<string>([
  "createdAt",
  "startedAt",
  "completedAt",
  "scheduledFor",
]);

const GUID_PATTERN =
  /^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$/;

/** Returns true when the text is a GUID, with or without braces. */
export function isGuid(text: string): boolean {
  return GUID_PATTERN.test(text);
}

/** Returns the lookup key of a job id: lower case, without braces. */
export function jobKey(id: string): string {
  return id.replace(/[{}]/g, "").toLowerCase();
}

/** Returns the canonical spelling of a status, or null when it is unknown. */
export function parseStatus(
  text: string,
  options: { allowScheduled?: boolean } = {},
): JobStatus | null {
  const lower = text.toLowerCase();
  const status = JOB_STATUSES.find((s) => s.toLowerCase() === lower);
  if (status === undefined) return null;
  if (status === "Scheduled" && options.allowScheduled === false) return null;
  return status;
}

function canonicalEnum<T extends string>(
  values: readonly T[],
  value: unknown,
): unknown {
  if (typeof value !== "string") return value;
  const lower = value.toLowerCase();
  return values.find((v) => v.toLowerCase() === lower) ?? value;
}

/**
 * Renames known properties to camelCase, converts `Date` times to ISO
 * strings and spells known enum values canonically. Unknown enum values and
 * unknown properties pass through unchanged.
 */
function normalizeInput(input: JobInput): Record<string, unknown> {
  const normalized: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(input)) {
    const property = PROPERTY_BY_LOWER_NAME.get(name.toLowerCase()) ?? name;
    if (TIME_PROPERTIES.has(property) && value instanceof Date) {
      normalized[property] = value.toISOString();
    } else if (property === "status") {
      normalized[property] = canonicalEnum(JOB_STATUSES, value);
    } else if (property === "jobType") {
      normalized[property] = canonicalEnum(JOB_TYPES, value);
    } else if (property === "parameters" && isPlainObject(value)) {
      normalized[property] = { ...value };
    } else {
      normalized[property] = value;
    }
  }
  return normalized;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Returns a copy that callers may change without touching the store. */
export function copyJob(job: JobRecord): JobRecord {
  return { ...job, parameters: { ...job.parameters } };
}

const TERMINAL_STATUSES: ReadonlySet<string> = new Set([
  "Completed",
  "Failed",
]);

/** Options of {@linkcode JobStore.pending}. */
export interface PendingOptions {
  /** Customer name, compared case-insensitively; null matches every job. */
  customer: string | null;
  /**
   * Orchestrator that polls. When set, the second generation's rules apply:
   * `Scheduled` jobs count once their `scheduledFor` has passed, and the
   * orchestrator gets at most one job that has not reached a final status.
   */
  orchestratorId: string | null;
  /** Current time in milliseconds since the epoch. */
  now: number;
}

/** The jobs that `GET /api/jobs/pending` returns. */
export interface PendingSelection {
  jobs: JobRecord[];
  /** The job assigned to the polling orchestrator by this call, or null. */
  assigned: JobRecord | null;
}

/** Jobs by id, in creation order. */
export class JobStore {
  #jobs = new Map<string, JobRecord>();

  /** Number of stored jobs. */
  get size(): number {
    return this.#jobs.size;
  }

  /**
   * Creates a job, filling defaults for missing properties.
   *
   * @throws {TypeError} when the id is not a GUID string
   * @throws {RangeError} when a job with that id exists
   */
  add(input: JobInput, now: number): JobRecord {
    const normalized = normalizeInput(input);
    const id = normalized.id ?? crypto.randomUUID();
    if (typeof id !== "string" || !isGuid(id)) {
      throw new TypeError(
        `Job id "${String(id)}" is not a GUID; omit it to get a random one`,
      );
    }
    const key = jobKey(id);
    if (this.#jobs.has(key)) {
      throw new RangeError(
        `Job "${id}" exists already; use another id or patch the job`,
      );
    }
    const job = {
      name: "",
      customer: "",
      scriptPath: "",
      containerImage: "",
      registryServer: null,
      registryUsername: null,
      registryPassword: null,
      parameters: {},
      jobType: "OneOff",
      isWhatIf: false,
      isPaused: false,
      schedule: null,
      status: "Pending",
      createdAt: new Date(now).toISOString(),
      startedAt: null,
      completedAt: null,
      scheduledFor: null,
      assignedToOrchestratorId: null,
      ...normalized,
      id,
    } as JobRecord;
    this.#jobs.set(key, job);
    return job;
  }

  /** Returns the stored record itself (not a copy), or undefined. */
  get(id: string): JobRecord | undefined {
    return this.#jobs.get(jobKey(id));
  }

  /** Returns the stored records in creation order. */
  all(): IterableIterator<JobRecord> {
    return this.#jobs.values();
  }

  /** Deletes a job; returns false when there was none. */
  delete(id: string): boolean {
    return this.#jobs.delete(jobKey(id));
  }

  /**
   * Applies a patch as given; the id cannot change. A job that moves from
   * `Completed` or `Failed` back to `Pending` or `Scheduled` loses its
   * orchestrator assignment unless the patch sets one, so that any
   * orchestrator may take it again.
   *
   * @throws {RangeError} when the job does not exist
   */
  patch(id: string, patch: JobInput): JobRecord {
    const job = this.get(id);
    if (job === undefined) {
      throw new RangeError(
        `Job "${id}" does not exist; create it with addJob first`,
      );
    }
    const normalized = normalizeInput(patch);
    delete normalized.id;
    const previous = job.status;
    Object.assign(job, normalized);
    const requeued = TERMINAL_STATUSES.has(previous) &&
      (job.status === "Pending" || job.status === "Scheduled");
    if (requeued && !("assignedToOrchestratorId" in normalized)) {
      job.assignedToOrchestratorId = null;
    }
    return job;
  }

  /**
   * Sets a status as `PATCH /api/jobs/{id}/status` does: `Running` stamps
   * `startedAt` and clears `completedAt`, `Completed` and `Failed` stamp
   * `completedAt`, and a requeued job loses its assignment as in `patch`.
   */
  setStatus(job: JobRecord, status: JobStatus, now: number): void {
    const previous = job.status;
    job.status = status;
    if (status === "Running") {
      job.startedAt = new Date(now).toISOString();
      job.completedAt = null;
    } else if (TERMINAL_STATUSES.has(status)) {
      job.completedAt = new Date(now).toISOString();
    } else if (TERMINAL_STATUSES.has(previous)) {
      job.assignedToOrchestratorId = null;
    }
  }

  /**
   * Selects the jobs that `GET /api/jobs/pending` returns, and in the second
   * generation assigns the selected job to the polling orchestrator.
   *
   * The first generation returns every `Pending` job of the customer. The
   * second returns the orchestrator's own unfinished job again while it is
   * still `Pending` or due, nothing while it runs, and otherwise assigns the
   * oldest free job that is `Pending` or `Scheduled` and due. Paused jobs
   * are returned too: skipping them at their fire time is the client's part.
   */
  pending(options: PendingOptions): PendingSelection {
    const customer = options.customer?.toLowerCase() ?? null;
    const matchesCustomer = (job: JobRecord) =>
      customer === null ||
      (typeof job.customer === "string" &&
        job.customer.toLowerCase() === customer);

    const orchestratorId = options.orchestratorId;
    if (orchestratorId === null) {
      const result: JobRecord[] = [];
      for (const job of this.#jobs.values()) {
        if (job.status === "Pending" && matchesCustomer(job)) result.push(job);
      }
      return { jobs: result, assigned: null };
    }

    const isDue = (job: JobRecord) =>
      job.status === "Pending" ||
      (job.status === "Scheduled" &&
        (job.scheduledFor === null ||
          Date.parse(job.scheduledFor) <= options.now));

    let candidate: JobRecord | undefined;
    for (const job of this.#jobs.values()) {
      const owner = job.assignedToOrchestratorId;
      if (owner === orchestratorId && !TERMINAL_STATUSES.has(job.status)) {
        return { jobs: isDue(job) ? [job] : [], assigned: null };
      }
      if (
        candidate === undefined && owner === null && isDue(job) &&
        matchesCustomer(job)
      ) {
        candidate = job;
      }
    }
    if (candidate === undefined) return { jobs: [], assigned: null };
    candidate.assignedToOrchestratorId = orchestratorId;
    return { jobs: [candidate], assigned: candidate };
  }
}
