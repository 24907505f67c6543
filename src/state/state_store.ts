/**
 * The daemon's durable state: its id, finished and running jobs, schedules
 * and the outbox of updates not yet accepted by the IAM API.
 *
 * Everything lives in one SQLite file, `orchestrator.db`, in the state
 * directory. Each method commits before it returns, so what it wrote
 * survives a crash or a restart of the daemon.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { JOB_STATUSES } from "../iam_api/job.ts";
import type { JobStatus, LogEntry } from "../iam_api/job.ts";
import { openDatabase } from "./open_database.ts";
import {
  readInteger,
  readNullableInteger,
  readNullableText,
  readText,
  type Row,
} from "./row_values.ts";
import { prepareStatements, type Statements } from "./statements.ts";
export { StateStoreError } from "./state_store_error.ts";

/** Final states that a job leaves the orchestrator in. */
export type FinishedStatus = "Completed" | "Failed";

/** A job that ran to its end on this orchestrator. */
export interface FinishedJob {
  status: FinishedStatus;
  finishedAt: Date;
}

/** A job whose container was started and not yet cleaned up. */
export interface RunningJob {
  jobId: string;
  containerId: string;
  startedAt: Date;
  /** The job as JSON, enough to adopt its container after a crash. */
  jobJson: string;
}

/**
 * How much of a running job's output was committed for delivery, so that a
 * restart resumes after it.
 */
export interface LogProgress {
  /** Lines of the container's standard output committed to the outbox. */
  stdoutLines: number;
  /** Lines of the container's standard error committed to the outbox. */
  stderrLines: number;
  /** Docker timestamp of the last delivered line, when it is known. */
  lastTimestamp?: string;
}

/** The firing state of one scheduled job. */
export interface ScheduleRecord {
  jobId: string;
  /** The cron expression. */
  expression: string;
  /** IANA time zone the expression is read in. */
  timeZone: string;
  /** When the schedule last fired, or null when it never has. */
  lastFireAt: Date | null;
}

/** An update to the IAM API: a log entry or a job's status. */
export type OutboxItem =
  | { kind: "log"; jobId: string; entry: LogEntry }
  | { kind: "status"; jobId: string; status: JobStatus };

/** An outbox item with its sequence number, which sets the sending order. */
export type PendingOutboxItem = { seq: number } & OutboxItem;

/** Settings for {@link StateStore.open}. */
export interface StateStoreOptions {
  /**
   * An id for this orchestrator, stored in place of any earlier id. When it
   * is omitted, the store returns the stored id, or generates a random UUID
   * on first open and stores it.
   */
  orchestratorId?: string;
  /**
   * The max number of finished jobs to remember. The store forgets the ones
   * that finished earliest.
   * @default 10000
   */
  maxFinishedJobs?: number;
  /**
   * How long a statement waits for a lock held by another connection to the
   * same file, in milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
}

const ORCHESTRATOR_ID_KEY = "orchestrator_id";

/**
 * Finished jobs are pruned after this many inserts rather than on each one,
 * so the table can exceed `maxFinishedJobs` by up to this count minus one.
 */
const PRUNE_INTERVAL = 100;

/**
 * The orchestrator's state in `orchestrator.db` inside a state directory.
 *
 * Methods are synchronous and each commits before returning. After
 * {@link StateStore.close}, every method throws.
 *
 * @example
 * ```ts
 * const store = StateStore.open("/var/lib/iam-orchestrator");
 * const seq = store.enqueue({ kind: "status", jobId, status: "Completed" });
 * // ... once the API accepted it:
 * store.acknowledge(seq);
 * store.close();
 * ```
 */
export class StateStore {
  readonly #database: DatabaseSync;
  readonly #statements: Statements;
  readonly #path: string;
  readonly #maxFinishedJobs: number;
  readonly #orchestratorId: string;
  #finishedInsertsSincePrune = 0;

  private constructor(
    database: DatabaseSync,
    path: string,
    options: { orchestratorId?: string; maxFinishedJobs: number },
  ) {
    this.#database = database;
    this.#path = path;
    this.#statements = prepareStatements(database);
    this.#maxFinishedJobs = options.maxFinishedJobs;
    this.#orchestratorId = this.#loadOrchestratorId(options.orchestratorId);
    this.#pruneFinished();
  }

  /**
   * Opens the store in `directory`, creating the directory (mode 0700) and
   * `orchestrator.db` when they are missing, and applies schema migrations.
   *
   * @param directory the state directory
   * @param options see {@link StateStoreOptions}
   * @throws {StateStoreError} when the directory or file cannot be used, the
   *   file is not a SQLite database or is corrupt, or its schema version is
   *   newer than this code
   * @throws {TypeError} when `orchestratorId` is empty
   * @throws {RangeError} when `maxFinishedJobs` is not a positive integer
   */
  static open(directory: string, options: StateStoreOptions = {}): StateStore {
    const orchestratorId = options.orchestratorId;
    if (orchestratorId !== undefined) {
      requireText(orchestratorId, "orchestratorId");
    }
    const maxFinishedJobs = options.maxFinishedJobs ?? 10_000;
    if (!Number.isSafeInteger(maxFinishedJobs) || maxFinishedJobs < 1) {
      throw new RangeError(
        `Invalid maxFinishedJobs "${maxFinishedJobs}": expected a positive ` +
          `integer`,
      );
    }
    const { database, path } = openDatabase(directory, {
      busyTimeoutMs: options.busyTimeoutMs,
    });
    try {
      return new StateStore(database, path, {
        orchestratorId,
        maxFinishedJobs,
      });
    } catch (error) {
      database.close();
      throw error;
    }
  }

  /** The path of the database file. */
  get path(): string {
    return this.#path;
  }

  /** Closes the database. Calling it again does nothing. */
  close(): void {
    if (this.#database.isOpen) this.#database.close();
  }

  /** Returns this orchestrator's id, the same across restarts. */
  orchestratorId(): string {
    return this.#orchestratorId;
  }

  // --- Finished jobs -------------------------------------------------------

  /**
   * Records that a job ended, so that a restart never runs it again.
   * Recording a job again replaces its status and time.
   */
  recordFinished(
    jobId: string,
    finished: { status: FinishedStatus; finishedAt: Date },
  ): void {
    requireText(jobId, "jobId");
    if (finished.status !== "Completed" && finished.status !== "Failed") {
      throw new TypeError(
        `Invalid finished status "${finished.status}": expected "Completed" ` +
          `or "Failed"`,
      );
    }
    const finishedAt = requireDate(finished.finishedAt, "finishedAt");
    this.#statements.upsertFinished.run(jobId, finished.status, finishedAt);
    this.#finishedInsertsSincePrune++;
    if (this.#finishedInsertsSincePrune >= PRUNE_INTERVAL) {
      this.#pruneFinished();
    }
  }

  /** Returns how a job ended, or null when it is not remembered. */
  finishedJob(jobId: string): FinishedJob | null {
    const row = this.#statements.readFinished.get(jobId) as Row | undefined;
    if (row === undefined) return null;
    const status = readText(row, "status");
    if (status !== "Completed" && status !== "Failed") {
      throw new TypeError(
        `State database contains finished status "${status}" for job ` +
          `"${jobId}", expected "Completed" or "Failed"`,
      );
    }
    return { status, finishedAt: new Date(readInteger(row, "finished_at")) };
  }

  /** Forgets a finished job, so that it may run again. */
  forgetFinished(jobId: string): void {
    this.#statements.deleteFinished.run(jobId);
  }

  // --- Running jobs --------------------------------------------------------

  /**
   * Records a job that is being started, replacing an earlier record of the
   * same job. `containerId` is empty until its container runs.
   *
   * `jobJson` is written to disk as given. The directory is private to the
   * daemon's user, but the caller should still leave out credentials, such
   * as the registry password, that adoption after a crash does not need.
   */
  recordRunning(job: RunningJob): void {
    requireText(job.jobId, "jobId");
    if (typeof job.containerId !== "string") {
      throw new TypeError(
        `Invalid containerId for job "${job.jobId}": expected a string`,
      );
    }
    const startedAt = requireDate(job.startedAt, "startedAt");
    if (typeof job.jobJson !== "string") {
      throw new TypeError(
        `Invalid jobJson for job "${job.jobId}": expected a JSON string`,
      );
    }
    this.#statements.upsertRunning.run(
      job.jobId,
      job.containerId,
      startedAt,
      job.jobJson,
    );
  }

  /** Returns the running jobs, oldest first. */
  runningJobs(): RunningJob[] {
    const rows = this.#statements.listRunning.all() as Row[];
    return rows.map((row) => ({
      jobId: readText(row, "job_id"),
      containerId: readText(row, "container_id"),
      startedAt: new Date(readInteger(row, "started_at")),
      jobJson: readText(row, "job_json"),
    }));
  }

  /** Removes a running job and its log progress, in one transaction. */
  removeRunning(jobId: string): void {
    this.#transaction(() => {
      this.#statements.deleteRunning.run(jobId);
      this.#statements.deleteLogProgress.run(jobId);
    });
  }

  /**
   * Records how much of a job's output the IAM API has accepted, so that a
   * daemon adopting the container after a crash resumes after it.
   */
  saveLogProgress(jobId: string, progress: LogProgress): void {
    requireText(jobId, "jobId");
    requireCount(progress.stdoutLines, "stdoutLines");
    requireCount(progress.stderrLines, "stderrLines");
    this.#statements.upsertLogProgress.run(
      jobId,
      progress.stdoutLines,
      progress.stderrLines,
      progress.lastTimestamp ?? null,
    );
  }

  /** Returns a job's saved log progress, or null when none was saved. */
  logProgress(jobId: string): LogProgress | null {
    const row = this.#statements.readLogProgress.get(jobId) as Row | undefined;
    if (row === undefined) return null;
    const progress: LogProgress = {
      stdoutLines: readInteger(row, "stdout_lines"),
      stderrLines: readInteger(row, "stderr_lines"),
    };
    const lastTimestamp = readNullableText(row, "last_timestamp");
    if (lastTimestamp !== null) progress.lastTimestamp = lastTimestamp;
    return progress;
  }

  // --- Schedules -----------------------------------------------------------

  /** Returns every schedule, ordered by job id. */
  listSchedules(): ScheduleRecord[] {
    const rows = this.#statements.listSchedules.all() as Row[];
    return rows.map((row) => {
      const lastFireAt = readNullableInteger(row, "last_fire_at");
      return {
        jobId: readText(row, "job_id"),
        expression: readText(row, "expression"),
        timeZone: readText(row, "time_zone"),
        lastFireAt: lastFireAt === null ? null : new Date(lastFireAt),
      };
    });
  }

  /** Inserts a schedule, or replaces the one with the same job id. */
  saveSchedule(record: ScheduleRecord): void {
    requireText(record.jobId, "jobId");
    requireText(record.expression, "expression");
    requireText(record.timeZone, "timeZone");
    const lastFireAt = record.lastFireAt === null
      ? null
      : requireDate(record.lastFireAt, "lastFireAt");
    this.#statements.upsertSchedule.run(
      record.jobId,
      record.expression,
      record.timeZone,
      lastFireAt,
    );
  }

  /** Deletes a job's schedule, if it has one. */
  deleteSchedule(jobId: string): void {
    this.#statements.deleteSchedule.run(jobId);
  }

  // --- Outbox --------------------------------------------------------------

  /**
   * Commits an update for the IAM API and returns its sequence number.
   * Items are sent in sequence order, so a status enqueued after a job's log
   * entries is sent after them.
   *
   * The item is written to disk as given: the caller must mask secrets in
   * log messages before enqueueing, because this store never masks.
   *
   * @throws {TypeError} when the item is malformed
   */
  enqueue(item: OutboxItem): number {
    return this.#insertOutbox(item, Date.now());
  }

  /**
   * Commits a container log entry and adds its lines to the job's log
   * progress in one transaction, so a crash cannot keep one without the
   * other. `stream` selects the count that grows.
   */
  enqueueContainerLog(
    item: OutboxItem & { kind: "log" },
    stream: "stdout" | "stderr",
  ): number {
    validateOutboxItem(item);
    const lines = item.entry.message.split("\n").length;
    return this.#transaction(() => {
      const seq = this.#insertOutbox(item, Date.now());
      const progress = this.logProgress(item.jobId) ??
        { stdoutLines: 0, stderrLines: 0 };
      if (stream === "stderr") progress.stderrLines += lines;
      else progress.stdoutLines += lines;
      this.saveLogProgress(item.jobId, progress);
      return seq;
    });
  }

  /**
   * Commits several updates in one transaction and returns their sequence
   * numbers in the same order. Either all items are stored or none.
   * Secrets must be masked before, as for {@link StateStore.enqueue}.
   */
  enqueueMany(items: readonly OutboxItem[]): number[] {
    for (const item of items) validateOutboxItem(item);
    const now = Date.now();
    return this.#transaction(() =>
      items.map((item) => this.#insertOutbox(item, now))
    );
  }

  /** Returns up to `limit` pending items, lowest sequence number first. */
  pending(limit: number): PendingOutboxItem[] {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(
        `Invalid limit "${limit}": expected a positive integer`,
      );
    }
    const rows = this.#statements.pendingOutbox.all(limit) as Row[];
    return rows.map(toPendingItem);
  }

  /** Returns a job's pending items, lowest sequence number first. */
  pendingForJob(jobId: string): PendingOutboxItem[] {
    const rows = this.#statements.pendingOutboxForJob.all(jobId) as Row[];
    return rows.map(toPendingItem);
  }

  /**
   * Removes an item once the IAM API accepted it.
   *
   * @returns true when the item was pending, false when it was not
   */
  acknowledge(seq: number): boolean {
    const result = this.#statements.deleteOutbox.run(seq);
    return Number(result.changes) > 0;
  }

  /** Returns the number of pending items. */
  outboxDepth(): number {
    const row = this.#statements.countOutbox.get() as Row;
    return readInteger(row, "depth");
  }

  // --- Internals -----------------------------------------------------------

  #insertOutbox(item: OutboxItem, now: number): number {
    validateOutboxItem(item);
    const result = item.kind === "log"
      ? this.#statements.insertOutbox.run(
        item.jobId,
        "log",
        JSON.stringify(item.entry),
        null,
        now,
      )
      : this.#statements.insertOutbox.run(
        item.jobId,
        "status",
        null,
        item.status,
        now,
      );
    return Number(result.lastInsertRowid);
  }

  #loadOrchestratorId(explicitId: string | undefined): string {
    if (explicitId !== undefined) {
      this.#statements.writeMeta.run(ORCHESTRATOR_ID_KEY, explicitId);
      return explicitId;
    }
    return this.#transaction(() => {
      const row = this.#statements.readMeta.get(ORCHESTRATOR_ID_KEY) as
        | Row
        | undefined;
      if (row !== undefined) return readText(row, "value");
      const id = crypto.randomUUID();
      this.#statements.writeMeta.run(ORCHESTRATOR_ID_KEY, id);
      return id;
    });
  }

  #pruneFinished(): void {
    this.#statements.pruneFinished.run(this.#maxFinishedJobs);
    this.#finishedInsertsSincePrune = 0;
  }

  #transaction<T>(work: () => T): T {
    this.#statements.begin.run();
    let result: T;
    try {
      result = work();
    } catch (error) {
      // SQLite may already have rolled back, for example on a full disk.
      if (this.#database.isTransaction) this.#statements.rollback.run();
      throw error;
    }
    this.#statements.commit.run();
    return result;
  }
}

function toPendingItem(row: Row): PendingOutboxItem {
  const seq = readInteger(row, "seq");
  const jobId = readText(row, "job_id");
  const kind = readText(row, "kind");
  if (kind === "log") {
    const entry = JSON.parse(readText(row, "entry_json")) as LogEntry;
    return { seq, kind, jobId, entry };
  }
  if (kind === "status") {
    const status = readText(row, "status");
    if (!isJobStatus(status)) {
      throw new TypeError(
        `State database contains outbox status "${status}" for job ` +
          `"${jobId}", expected one of ${JOB_STATUSES.join(", ")}`,
      );
    }
    return { seq, kind, jobId, status };
  }
  throw new TypeError(
    `State database contains outbox kind "${kind}", expected "log" or "status"`,
  );
}

function validateOutboxItem(item: OutboxItem): void {
  requireText(item.jobId, "jobId");
  if (item.kind === "log") {
    if (typeof item.entry !== "object" || item.entry === null) {
      throw new TypeError(
        `Invalid log item for job "${item.jobId}": entry must be an object`,
      );
    }
    if (item.entry.jobId !== item.jobId) {
      throw new TypeError(
        `Invalid log item for job "${item.jobId}": its entry belongs to job ` +
          `"${item.entry.jobId}". Enqueue the entry under its own job id`,
      );
    }
    return;
  }
  if (item.kind === "status") {
    if (!isJobStatus(item.status)) {
      throw new TypeError(
        `Invalid status "${item.status}" for job "${item.jobId}": expected ` +
          `one of ${JOB_STATUSES.join(", ")}`,
      );
    }
    return;
  }
  const kind = (item as { kind: unknown }).kind;
  throw new TypeError(
    `Invalid outbox item kind "${kind}": expected "log" or "status"`,
  );
}

function isJobStatus(value: string): value is JobStatus {
  return (JOB_STATUSES as readonly string[]).includes(value);
}

function requireText(value: string, name: string): void {
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(
      `Invalid ${name} "${value}": expected a non-empty string`,
    );
  }
}

/** Returns the date as milliseconds since the epoch. */
function requireDate(value: Date, name: string): number {
  const time = value instanceof Date ? value.getTime() : Number.NaN;
  if (Number.isNaN(time)) {
    throw new TypeError(`Invalid ${name} "${value}": expected a valid Date`);
  }
  return time;
}

function requireCount(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Invalid ${name} "${value}": expected a non-negative integer`,
    );
  }
}
