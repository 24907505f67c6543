/**
 * Timers for scheduled jobs: at each fire time the scheduler fetches the
 * job's current state and hands it to execution unless it is paused,
 * deleted, rescheduled or still running.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Job } from "../iam_api/job.ts";
import {
  CronExpressionError,
  type CronSchedule,
  parseCronExpression,
} from "./cron_expression.ts";
import type { ScheduleRecord, ScheduleStore } from "./schedule_store.ts";
import { formatUtcTime, resolveTimeZone } from "./time_zone.ts";

/** Reason a fire time passed without dispatching its job. */
export type SkipReason = "paused" | "overlap" | "deleted" | "fetch-failed";

/** Action for a fire time that comes while the job's previous run goes on. */
export type OverlapPolicy = "Skip" | "Allow";

/** Outcome of `register` for a job. */
export type RegisterResult = "added" | "unchanged" | "rescheduled" | "rejected";

/** The logging methods the scheduler uses; a logtape `Logger` fits. */
export interface SchedulerLogger {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

/** Dependencies and settings of a `Scheduler`. */
export interface SchedulerOptions {
  /**
   * Fetches the job's current state (`GET /api/jobs/{id}`).
   * Resolves to null when the job no longer exists and rejects on any
   * other failure.
   */
  fetchJob(id: string): Promise<Job | null>;
  /** Hands the job to execution, which runs asynchronously. */
  dispatch(job: Job, fireTime: Date): void;
  /** Returns true while a run of the job is in progress. */
  isRunning(jobId: string): boolean;
  /** Marks the job failed on the server, for an invalid schedule. */
  failJob(jobId: string, reason: string): Promise<void>;
  /** Storage of registered schedules and their last fire times. */
  store: ScheduleStore;
  /** IANA zone schedules are read in. @default "UTC" */
  timeZone?: string;
  /** Whether a fire starts a run while the previous one goes on. @default "Skip" */
  overlapPolicy?: OverlapPolicy;
  /**
   * Maximum age, in seconds, of a fire time missed while no scheduler ran
   * for `restore` to run it once. 0 runs no missed fire. @default 0
   */
  catchUpWindowSeconds?: number;
  /** @default the logtape logger ["iam-orchestrator", "scheduling"] */
  logger?: SchedulerLogger;
  /** Called for each skipped fire, for metrics. */
  onSkip?(jobId: string, reason: SkipReason): void;
}

interface ScheduleEntry {
  readonly jobId: string;
  readonly schedule: CronSchedule;
  lastFireAt: Date | null;
  /** Null while a fire is being handled or when the schedule never fires. */
  nextFireAt: Date | null;
  timer: ReturnType<typeof setTimeout> | null;
}

// setTimeout overflows above 2^31-1 ms, and a shorter wait lets the
// scheduler notice a wall clock that moved.
const MAX_TIMER_DELAY_MS = 60 * 60 * 1000;

// Bounds the search for the latest missed fire inside the catch-up window:
// a job firing every minute has 10080 fire times in a week.
const MAX_CATCH_UP_SLOTS = 100_000;

function normalizeExpression(job: Job): string {
  return (job.schedule ?? "").trim();
}

/**
 * Owns one timer per registered scheduled job and decides at each fire
 * time whether to dispatch the job.
 *
 * A fire time is handled at most once: after a restart only fire times
 * later than the stored `lastFireAt` run, and `register` with an unchanged
 * expression keeps the existing timer. The exception is a store that fails
 * to save `lastFireAt` (logged as an error), after which a restart with a
 * catch-up window may run that fire time again.
 */
export class Scheduler {
  #options: SchedulerOptions;
  #timeZone: string;
  #overlapPolicy: OverlapPolicy;
  #catchUpWindowMs: number;
  #logger: SchedulerLogger;
  #entries = new Map<string, ScheduleEntry>();
  #skipped: Record<SkipReason, number> = {
    paused: 0,
    overlap: 0,
    deleted: 0,
    "fetch-failed": 0,
  };
  #stopped = false;

  /**
   * @throws {RangeError} for an unknown time zone, an unknown overlap
   *   policy or a negative catch-up window
   */
  constructor(options: SchedulerOptions) {
    const overlapPolicy = options.overlapPolicy ?? "Skip";
    if (overlapPolicy !== "Skip" && overlapPolicy !== "Allow") {
      throw new RangeError(
        `Invalid overlap policy "${overlapPolicy}": expected "Skip" or "Allow"`,
      );
    }
    const catchUpWindowSeconds = options.catchUpWindowSeconds ?? 0;
    if (!Number.isFinite(catchUpWindowSeconds) || catchUpWindowSeconds < 0) {
      throw new RangeError(
        `Invalid catch-up window ${catchUpWindowSeconds} s: expected a ` +
          `number of seconds, 0 or more`,
      );
    }
    this.#options = options;
    this.#timeZone = resolveTimeZone(options.timeZone ?? "UTC");
    this.#overlapPolicy = overlapPolicy;
    this.#catchUpWindowMs = catchUpWindowSeconds * 1000;
    this.#logger = options.logger ??
      getLogger(["iam-orchestrator", "scheduling"]);
  }

  /** The number of registered jobs. */
  get size(): number {
    return this.#entries.size;
  }

  /** Counts of skipped fires since the scheduler was created, by reason. */
  get skippedFires(): Readonly<Record<SkipReason, number>> {
    return { ...this.#skipped };
  }

  /** Returns the job's next fire time, or null when none is armed. */
  nextFireTime(jobId: string): Date | null {
    return this.#entries.get(jobId)?.nextFireAt ?? null;
  }

  /**
   * Registers a scheduled job, or reschedules it from now when its
   * expression changed. An unchanged expression changes nothing, so a job
   * seen again by the poller never fires twice.
   *
   * An invalid expression fails the job through `failJob` with a message
   * naming the expression and the field, and removes any earlier
   * registration. The returned promise then resolves to "rejected", even
   * when `failJob` rejects (that error is logged).
   *
   * @throws {TypeError} when the job is not of type "Scheduled"
   */
  async register(job: Job): Promise<RegisterResult> {
    if (job.jobType !== "Scheduled") {
      throw new TypeError(
        `Cannot schedule job ${job.id} of type "${job.jobType}": only ` +
          `"Scheduled" jobs have a schedule`,
      );
    }
    const expression = normalizeExpression(job);
    const existing = this.#entries.get(job.id);
    if (existing?.schedule.expression === expression) return "unchanged";
    return await this.#schedule(job, {
      lastFireAt: existing?.lastFireAt ?? null,
      rescheduling: existing !== undefined,
    });
  }

  /**
   * Returns true when the job is registered with this expression, so that
   * `register` would return "unchanged".
   */
  isRegistered(jobId: string, schedule: string | null): boolean {
    const entry = this.#entries.get(jobId);
    return entry !== undefined &&
      entry.schedule.expression === (schedule ?? "").trim();
  }

  /**
   * Removes a job's timer and its stored record.
   *
   * @returns false when the job was not registered
   */
  unregister(jobId: string): boolean {
    const entry = this.#entries.get(jobId);
    if (entry !== undefined) this.#clearTimer(entry);
    this.#entries.delete(jobId);
    this.#deleteRecord(jobId);
    return entry !== undefined;
  }

  /**
   * Registers the jobs in the store after a restart. Each job is fetched
   * first: a deleted job is removed, a job whose schedule changed is
   * rescheduled from now, and a job that cannot be fetched keeps its
   * stored schedule (the fire checks again).
   *
   * With a catch-up window, the latest fire time missed since `lastFireAt`
   * runs once at once when it is at most the window old. Other missed fire
   * times are not run.
   */
  async restore(): Promise<void> {
    for (const record of this.#options.store.listSchedules()) {
      if (this.#entries.has(record.jobId)) continue;
      await this.#restoreRecord(record);
    }
    this.#logger.info(
      "Restored schedules from the store; {count} jobs are scheduled",
      { count: this.#entries.size },
    );
  }

  /**
   * Clears all timers. Fires already fetching their job finish without
   * dispatching. Stored records stay, for `restore`.
   */
  stop(): void {
    this.#stopped = true;
    for (const entry of this.#entries.values()) this.#clearTimer(entry);
  }

  async #restoreRecord(record: ScheduleRecord): Promise<void> {
    const { jobId } = record;
    let job: Job | null | undefined;
    try {
      job = await this.#options.fetchJob(jobId);
    } catch (error) {
      this.#logger.warn(
        "Could not fetch job {jobId} while restoring its schedule; keeping " +
          "the stored schedule {expression}: {error}",
        { jobId, expression: record.expression, error },
      );
    }
    if (this.#stopped || this.#entries.has(jobId)) return;

    if (job === null) {
      this.#logger.info(
        "Job {jobId} no longer exists; removed its stored schedule",
        { jobId },
      );
      this.#deleteRecord(jobId);
      return;
    }
    if (job !== undefined) {
      const changed = job.jobType !== "Scheduled" ||
        normalizeExpression(job) !== record.expression ||
        record.timeZone !== this.#timeZone;
      if (changed) {
        this.#logger.info(
          "Job {jobId} changed its schedule from {previousExpression} " +
            "({previousTimeZone}) while the orchestrator was stopped; " +
            "rescheduling from now",
          {
            jobId,
            previousExpression: record.expression,
            previousTimeZone: record.timeZone,
          },
        );
        this.#deleteRecord(jobId);
        if (job.jobType === "Scheduled") {
          await this.#schedule(job, {
            lastFireAt: record.lastFireAt,
            rescheduling: true,
          });
        }
        return;
      }
    }

    let schedule: CronSchedule;
    try {
      schedule = parseCronExpression(record.expression, {
        timeZone: record.timeZone,
      });
    } catch (error) {
      this.#logger.error(
        "Stored schedule of job {jobId} is invalid and was removed: {error}",
        { jobId, error },
      );
      this.#deleteRecord(jobId);
      return;
    }

    const now = Date.now();
    const missed = this.#latestMissedFire(schedule, record.lastFireAt, now);
    const entry: ScheduleEntry = {
      jobId,
      schedule,
      lastFireAt: record.lastFireAt,
      nextFireAt: missed ?? schedule.nextFireAfter(new Date(now)),
      timer: null,
    };
    this.#entries.set(jobId, entry);
    if (missed !== null) {
      this.#logger.info(
        "Job {jobId} missed its fire at {fireTime} while the orchestrator " +
          "was stopped; running it once now",
        { jobId, fireTime: formatUtcTime(missed) },
      );
    }
    this.#logger.info(
      "Restored schedule {expression} of job {jobId}; next fire at " +
        "{nextFireAt}",
      {
        jobId,
        expression: schedule.expression,
        nextFireAt: entry.nextFireAt && formatUtcTime(entry.nextFireAt),
      },
    );
    this.#arm(entry);
  }

  /**
   * Finds the latest fire time after `lastFireAt` and at or before `now`
   * that is at most the catch-up window old.
   */
  #latestMissedFire(
    schedule: CronSchedule,
    lastFireAt: Date | null,
    now: number,
  ): Date | null {
    if (this.#catchUpWindowMs === 0 || lastFireAt === null) return null;
    const windowStart = now - this.#catchUpWindowMs - 1;
    let reference = new Date(Math.max(lastFireAt.getTime(), windowStart));
    let latest: Date | null = null;
    for (let slot = 0; slot < MAX_CATCH_UP_SLOTS; slot++) {
      const next = schedule.nextFireAfter(reference);
      if (next === null || next.getTime() > now) break;
      latest = next;
      reference = next;
    }
    return latest;
  }

  async #schedule(
    job: Job,
    options: { lastFireAt: Date | null; rescheduling: boolean },
  ): Promise<RegisterResult> {
    const jobId = job.id;
    const expression = normalizeExpression(job);
    let schedule: CronSchedule;
    try {
      schedule = parseCronExpression(expression, { timeZone: this.#timeZone });
    } catch (error) {
      if (!(error instanceof CronExpressionError)) throw error;
      const previous = this.#entries.get(jobId);
      if (previous !== undefined) this.#clearTimer(previous);
      this.#entries.delete(jobId);
      this.#deleteRecord(jobId);
      this.#logger.error(
        "Job {jobId} has an invalid schedule and is failed: {reason}",
        { jobId, customer: job.customer, reason: error.message },
      );
      try {
        await this.#options.failJob(jobId, error.message);
      } catch (failError) {
        this.#logger.error(
          "Could not mark job {jobId} failed for its invalid schedule: " +
            "{error}",
          { jobId, error: failError },
        );
      }
      return "rejected";
    }

    for (const warning of schedule.warnings) {
      this.#logger.warn("Schedule of job {jobId}: {warning}", {
        jobId,
        warning,
      });
    }

    const previous = this.#entries.get(jobId);
    if (previous !== undefined) this.#clearTimer(previous);
    const entry: ScheduleEntry = {
      jobId,
      schedule,
      lastFireAt: options.lastFireAt,
      nextFireAt: schedule.nextFireAfter(new Date(Date.now())),
      timer: null,
    };
    this.#entries.set(jobId, entry);
    this.#saveRecord(entry);

    if (entry.nextFireAt === null) {
      this.#logger.warn(
        "Schedule {expression} of job {jobId} never fires; the job stays " +
          "registered without a timer",
        { jobId, expression },
      );
    } else {
      this.#logger.info(
        options.rescheduling
          ? "Rescheduled job {jobId} to {expression}; next fire at {nextFireAt}"
          : "Scheduled job {jobId} with {expression}; next fire at " +
            "{nextFireAt}",
        {
          jobId,
          customer: job.customer,
          expression,
          timeZone: schedule.timeZone,
          nextFireAt: formatUtcTime(entry.nextFireAt),
        },
      );
    }
    this.#arm(entry);
    return options.rescheduling ? "rescheduled" : "added";
  }

  #isCurrent(entry: ScheduleEntry): boolean {
    return !this.#stopped && this.#entries.get(entry.jobId) === entry;
  }

  #clearTimer(entry: ScheduleEntry): void {
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
  }

  #arm(entry: ScheduleEntry): void {
    this.#clearTimer(entry);
    if (this.#stopped || entry.nextFireAt === null) return;
    const delay = Math.max(0, entry.nextFireAt.getTime() - Date.now());
    entry.timer = setTimeout(
      () => this.#onTimer(entry),
      Math.min(delay, MAX_TIMER_DELAY_MS),
    );
  }

  #onTimer(entry: ScheduleEntry): void {
    entry.timer = null;
    const fireTime = entry.nextFireAt;
    if (!this.#isCurrent(entry) || fireTime === null) return;
    // The wait was capped, or the wall clock moved back: wait again.
    if (fireTime.getTime() > Date.now()) {
      this.#arm(entry);
      return;
    }
    entry.nextFireAt = null;
    this.#fire(entry, fireTime).catch((error) => {
      this.#logger.error("Fire of job {jobId} failed: {error}", {
        jobId: entry.jobId,
        error,
      });
    });
  }

  async #fire(entry: ScheduleEntry, fireTime: Date): Promise<void> {
    const { jobId } = entry;
    const properties = { jobId, fireTime: formatUtcTime(fireTime) };

    let job: Job | null;
    try {
      job = await this.#options.fetchJob(jobId);
    } catch (error) {
      if (!this.#isCurrent(entry)) return;
      this.#logger.error(
        "Skipped fire of job {jobId} at {fireTime} because fetching the " +
          "job failed: {error}",
        { ...properties, error },
      );
      this.#skip(entry, fireTime, "fetch-failed");
      return;
    }
    // Unregistered, rescheduled or stopped while the request was out.
    if (!this.#isCurrent(entry)) return;

    if (job === null) {
      this.#logger.info(
        "Job {jobId} no longer exists; removed its schedule at {fireTime}",
        properties,
      );
      this.#countSkip(jobId, "deleted");
      this.unregister(jobId);
      return;
    }

    if (job.jobType !== "Scheduled") {
      this.#logger.info(
        "Job {jobId} is no longer a scheduled job; removed its schedule",
        properties,
      );
      this.unregister(jobId);
      return;
    }

    if (normalizeExpression(job) !== entry.schedule.expression) {
      this.#logger.info(
        "Job {jobId} changed its schedule from {previousExpression} to " +
          "{expression}; not running the fire at {fireTime}",
        {
          ...properties,
          previousExpression: entry.schedule.expression,
          expression: normalizeExpression(job),
        },
      );
      await this.#schedule(job, {
        lastFireAt: entry.lastFireAt,
        rescheduling: true,
      });
      return;
    }

    if (job.isPaused) {
      this.#logger.info(
        "Skipped fire of job {jobId} at {fireTime} because the job is paused",
        { ...properties, customer: job.customer },
      );
      this.#skip(entry, fireTime, "paused");
      return;
    }

    if (this.#overlapPolicy === "Skip" && this.#options.isRunning(jobId)) {
      this.#logger.info(
        "Skipped fire of job {jobId} at {fireTime} because its previous run " +
          "is still in progress",
        { ...properties, customer: job.customer },
      );
      this.#skip(entry, fireTime, "overlap");
      return;
    }

    this.#logger.info("Dispatching job {jobId} for its fire at {fireTime}", {
      ...properties,
      customer: job.customer,
    });
    try {
      this.#options.dispatch(job, fireTime);
    } catch (error) {
      this.#logger.error(
        "Dispatching job {jobId} for its fire at {fireTime} failed: {error}",
        { ...properties, error },
      );
    }
    this.#finishFire(entry, fireTime);
  }

  #countSkip(jobId: string, reason: SkipReason): void {
    this.#skipped[reason]++;
    try {
      this.#options.onSkip?.(jobId, reason);
    } catch (error) {
      this.#logger.error("The onSkip callback failed: {error}", { error });
    }
  }

  #skip(entry: ScheduleEntry, fireTime: Date, reason: SkipReason): void {
    this.#countSkip(entry.jobId, reason);
    this.#finishFire(entry, fireTime);
  }

  /** Records the fire time as handled and arms the next one. */
  #finishFire(entry: ScheduleEntry, fireTime: Date): void {
    entry.lastFireAt = fireTime;
    this.#saveRecord(entry);

    const now = Date.now();
    let next = entry.schedule.nextFireAfter(fireTime);
    if (next !== null && next.getTime() < now) {
      // Handling took past later fire times; run from the next one due.
      next = entry.schedule.nextFireAfter(new Date(now - 1));
      this.#logger.warn(
        "Job {jobId} passed fire times while handling the fire at " +
          "{fireTime}; they are not run",
        { jobId: entry.jobId, fireTime: formatUtcTime(fireTime) },
      );
    }
    entry.nextFireAt = next;
    this.#arm(entry);
  }

  #saveRecord(entry: ScheduleEntry): void {
    try {
      this.#options.store.saveSchedule({
        jobId: entry.jobId,
        expression: entry.schedule.expression,
        timeZone: entry.schedule.timeZone,
        lastFireAt: entry.lastFireAt,
      });
    } catch (error) {
      this.#logger.error(
        "Could not save the schedule of job {jobId}: {error}",
        { jobId: entry.jobId, error },
      );
    }
  }

  #deleteRecord(jobId: string): void {
    try {
      this.#options.store.deleteSchedule(jobId);
    } catch (error) {
      this.#logger.error(
        "Could not delete the stored schedule of job {jobId}: {error}",
        { jobId, error },
      );
    }
  }
}
