/**
 * The daemon: boot (engine check, recovery of containers left by an earlier
 * process, schedules), the poll loop that hands pending jobs to the runner
 * within the concurrency limit, and shutdown.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Settings } from "../config/settings.ts";
import { LABELS } from "../execution/job_labels.ts";
import type {
  JobRunner,
  JobRunResult,
  RunJobOptions,
} from "../execution/job_runner.ts";
import { ApiError, type IamApiClient } from "../iam_api/iam_api_client.ts";
import { type Job, parseJob } from "../iam_api/job.ts";
import { backoffDelay, sleep } from "../iam_api/retry.ts";
import type { ExecutionBackend } from "../runtime/execution_backend.ts";
import type { StateStore } from "../state/state_store.ts";
import { BoundedSet } from "./bounded_set.ts";

/** The parts of the state store the daemon reads and updates. */
export type DaemonStore = Pick<
  StateStore,
  | "finishedJob"
  | "forgetFinished"
  | "runningJobs"
  | "removeRunning"
  | "logProgress"
  | "recordFinished"
>;

/** The scheduler's side that the daemon calls. */
export interface ScheduleRegistry {
  register(job: Job): Promise<unknown>;
  /** Returns true when `register` would leave this job's timer as it is. */
  isRegistered(jobId: string, schedule: string | null): boolean;
  restore(): Promise<void>;
  stop(): void;
}

export interface DaemonOptions {
  settings: Settings;
  api: IamApiClient;
  backend: ExecutionBackend;
  runner: JobRunner;
  store: DaemonStore;
  orchestratorId: string;
  version: string;
  logger: Logger;
  /** Keeps cron schedules when the orchestrator fires them; absent in Server mode. */
  scheduler?: ScheduleRegistry;
  /** Called when a job run starts, for metrics. */
  onJobStarted?: (job: Job) => void;
  /** Called after each job run, for metrics and tests. */
  onJobFinished?: (job: Job, result: JobRunResult) => void;
  /** Called after each poll with its outcome, for readiness. */
  onPoll?: (succeeded: boolean, error?: string) => void;
  /** Called after each engine check with its outcome, for readiness. */
  onEngineCheck?: (succeeded: boolean, error?: string) => void;
  /**
   * False while the engine does not respond; polls are skipped then, so that
   * no job is taken that could not start.
   */
  engineAvailable?: () => boolean;
}

/** Maximum wait between polls while the API keeps failing, in milliseconds. */
const MAX_POLL_BACKOFF_MS = 60_000;
/** Maximum wait between engine checks at startup, in milliseconds. */
const MAX_ENGINE_BACKOFF_MS = 30_000;
/** Fires kept waiting for a free slot; older ones are dropped past this. */
const MAX_WAITING_FIRES = 1000;

interface ActiveRun {
  job: Job;
  done: Promise<void>;
}

/** Polls the IAM API and runs its jobs until stopped. */
export class Daemon {
  readonly #options: DaemonOptions;
  readonly #logger: Logger;
  readonly #runs = new Map<number, ActiveRun>();
  readonly #waitingFires: Array<{ job: Job; fireTime: Date }> = [];
  readonly #reportedMalformed = new BoundedSet<string>(1000);
  readonly #stopController = new AbortController();
  readonly #stopRuns = new AbortController();
  readonly #detachRuns = new AbortController();
  #wakeController = new AbortController();
  #nextRunKey = 0;
  #heartbeatSupported = true;
  #updateChecksSupported = true;
  #updateRequested = false;
  #pollFailures = 0;
  #backlog = false;
  #pausedForEngine = false;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** Ids of the jobs running now. */
  get runningJobIds(): string[] {
    return [...this.#runs.values()].map((run) => run.job.id);
  }

  /** True once the server asked this orchestrator to restart for an update. */
  get updateRequested(): boolean {
    return this.#updateRequested;
  }

  /** True once `stop` was called. */
  get stopping(): boolean {
    return this.#stopController.signal.aborted;
  }

  /**
   * Waits for the engine, takes over the containers of an earlier process,
   * restores schedules, then polls until `stop` is called. Resolves when
   * polling has ended; running jobs may still be going (see `shutdown`).
   */
  async run(): Promise<void> {
    if (!await this.#waitForEngine()) return;
    await this.#recover();
    if (this.stopping) return;
    await this.#options.scheduler?.restore();
    while (!this.stopping) {
      const delayMs = await this.#cycle();
      this.#wakeController = new AbortController();
      const wake = AbortSignal.any([
        this.#wakeController.signal,
        this.#stopController.signal,
      ]);
      await sleep(delayMs, wake);
    }
  }

  /** Ends polling and scheduling; jobs already running go on. */
  stop(): void {
    this.#stopController.abort();
    this.#options.scheduler?.stop();
  }

  /**
   * Stops polling, lets running jobs finish for up to `graceMs`, then
   * detaches from or stops the containers still running, as
   * `OrchestratorSettings:OnShutdown` sets.
   *
   * @returns the ids of the jobs that were still running at the deadline
   */
  async shutdown(graceMs: number): Promise<string[]> {
    this.stop();
    await this.#settled(graceMs);
    const left = this.runningJobIds;
    if (left.length === 0) return left;
    if (this.#options.settings.orchestrator.onShutdown === "Stop") {
      this.#logger.warn(
        "Stopping {containers} still running after the grace period: {jobIds}",
        {
          count: left.length,
          containers: countContainers(left.length),
          jobIds: left.join(", "),
        },
      );
      this.#stopRuns.abort();
    } else {
      this.#logger.warn(
        "Leaving {containers} running for the next start to resume: {jobIds}",
        {
          count: left.length,
          containers: countContainers(left.length),
          jobIds: left.join(", "),
        },
      );
      this.#detachRuns.abort();
    }
    await this.#settled(Number.POSITIVE_INFINITY);
    return left;
  }

  /** Polls at once instead of at the end of the current interval. */
  wake(): void {
    this.#wakeController.abort();
  }

  /**
   * Starts a scheduled fire of a job, or keeps it until a slot is free, so
   * fires respect `MaxConcurrentJobs` too.
   */
  dispatch(job: Job, fireTime: Date): void {
    if (this.stopping) return;
    if (this.#freeSlots() > 0) {
      this.#start(job, { fireTime });
      return;
    }
    if (this.#waitingFires.length >= MAX_WAITING_FIRES) {
      const dropped = this.#waitingFires.shift()!;
      this.#logger.warn(
        "Too many fires wait for a free slot; dropping the fire of job {jobId} at {fireTime}",
        { jobId: dropped.job.id, fireTime: dropped.fireTime.toISOString() },
      );
    }
    this.#waitingFires.push({ job, fireTime });
  }

  /** True while a run of the job is going on here. */
  isRunning(jobId: string): boolean {
    for (const run of this.#runs.values()) {
      if (run.job.id === jobId) return true;
    }
    return false;
  }

  #freeSlots(): number {
    return this.#options.settings.container.maxConcurrentJobs -
      this.#runs.size;
  }

  async #settled(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const runs = [...this.#runs.values()].map((run) => run.done);
    await Promise.race([
      Promise.allSettled(runs),
      new Promise((resolve) => {
        if (Number.isFinite(timeoutMs)) timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  async #waitForEngine(): Promise<boolean> {
    const { backend, onEngineCheck } = this.#options;
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        const engine = await backend.describe();
        onEngineCheck?.(true);
        this.#logger.info(
          "Engine {engine} {engineVersion} (API {apiVersion}) responds",
          {
            engine: engine.name,
            engineVersion: engine.version,
            apiVersion: engine.apiVersion,
          },
        );
        return true;
      } catch (error) {
        const message = (error as Error).message;
        onEngineCheck?.(false, message);
        // A missing Deno permission does not go away by waiting.
        if (/Deno needs --allow/.test(message)) throw error;
        const delay = backoffDelay(attempt, {
          baseMs: 1000,
          capMs: MAX_ENGINE_BACKOFF_MS,
        });
        if (attempt === 0 || attempt % 10 === 0) {
          this.#logger.warn(
            "{error}; not polling for jobs until it responds, next try in {seconds} s",
            { error: message, seconds: Math.ceil(delay / 1000) },
          );
        }
        await sleep(delay, this.#stopController.signal);
      }
    }
    return false;
  }

  /**
   * Takes over what an earlier process left: containers still running or
   * exited while no daemon watched them, and jobs marked running whose
   * container never started. No job is started a second time.
   */
  async #recover(): Promise<void> {
    const { backend, store, orchestratorId, runner } = this.#options;
    const runs = await backend.listRuns({
      [LABELS.orchestratorId]: orchestratorId,
    });
    const records = new Map(
      store.runningJobs().map((record) => [record.jobId, record]),
    );
    for (const run of runs) {
      const jobId = run.labels[LABELS.jobId];
      if (jobId === undefined) continue;
      const record = records.get(jobId);
      records.delete(jobId);
      if (store.finishedJob(jobId) !== null) {
        // Its result was recorded; only the container was left behind.
        await backend.attach(run.id).remove();
        store.removeRunning(jobId);
        continue;
      }
      const job = await this.#recoveredJob(jobId, record?.jobJson, run.labels);
      if (run.neverStarted === true) {
        // Waiting on a container that never started returns exit code 0 at
        // once, which would report a job that did not run as Completed.
        await backend.attach(run.id).remove();
        const reason = "The orchestrator restarted after it created the " +
          `job's container ${run.id.slice(0, 12)} and before it started ` +
          "it; the container was removed and the job did not run";
        this.#logger.warn("Job {jobId} fails: {reason}", { jobId, reason });
        this.#track(job, () => runner.abandon(job, reason));
        continue;
      }
      const progress = store.logProgress(jobId);
      this.#logger.info(
        "Resuming job {jobId} in container {containerId} ({state}) left by an earlier start",
        {
          jobId,
          jobName: job.name,
          customer: job.customer,
          containerId: run.id.slice(0, 12),
          state: run.running ? "running" : "exited",
        },
      );
      this.#track(job, (signals) =>
        runner.adopt(job, {
          containerId: run.id,
          delivered: {
            stdout: progress?.stdoutLines ?? 0,
            stderr: progress?.stderrLines ?? 0,
          },
          startedAt: record?.startedAt,
        }, signals));
    }
    for (const record of records.values()) {
      const job = await this.#recoveredJob(record.jobId, record.jobJson, {});
      const reason = "The orchestrator restarted before the job's container " +
        "ran, and the container does not exist; the job did not run";
      this.#logger.warn("Job {jobId} fails: {reason}", {
        jobId: job.id,
        reason,
      });
      this.#track(job, () => runner.abandon(job, reason));
    }
  }

  async #recoveredJob(
    jobId: string,
    jobJson: string | undefined,
    labels: Record<string, string>,
  ): Promise<Job> {
    if (jobJson !== undefined) {
      try {
        const result = parseJob(JSON.parse(jobJson));
        if (result.ok) return result.job;
      } catch {
        // Fall back to the API below.
      }
    }
    try {
      const job = await this.#options.api.getJob(jobId);
      if (job !== null) return job;
    } catch (error) {
      this.#logger.warn("Fetching job {jobId} for recovery failed: {error}", {
        jobId,
        error: (error as Error).message,
      });
    }
    const fallback = parseJob({
      id: jobId,
      name: labels[LABELS.jobName] ?? "",
      customer: labels[LABELS.customer] ?? "",
      containerImage: "unknown",
      jobType: "OneOff",
      status: "Running",
    });
    if (!fallback.ok) throw new TypeError(fallback.reason);
    return fallback.job;
  }

  /** Runs one poll cycle and returns the wait before the next, in ms. */
  async #cycle(): Promise<number> {
    const { settings } = this.#options;
    const intervalMs = settings.api.pollingIntervalSeconds * 1000;
    await this.#sendHeartbeat();
    await this.#checkForUpdate();
    if (this.stopping) return 0;
    this.#startWaitingFires();
    if (!(this.#options.engineAvailable?.() ?? true)) {
      if (!this.#pausedForEngine) {
        this.#pausedForEngine = true;
        this.#logger.warn(
          "The container engine does not respond; not polling for jobs until it does",
        );
      }
      return intervalMs;
    }
    if (this.#pausedForEngine) {
      this.#pausedForEngine = false;
      this.#logger.info("The container engine responds again; polling resumes");
    }
    const free = this.#freeSlots();
    if (free <= 0) {
      // A finishing job wakes the loop, so no poll is wasted while full.
      this.#backlog = true;
      return intervalMs;
    }
    try {
      await this.#poll(free);
      if (this.#pollFailures > 0) {
        this.#logger.info(
          "Polling the IAM API works again after {failures} failures",
          { failures: this.#pollFailures },
        );
      }
      this.#pollFailures = 0;
      this.#options.onPoll?.(true);
      return intervalMs;
    } catch (error) {
      const message = (error as Error).message;
      this.#pollFailures++;
      this.#options.onPoll?.(false, message);
      const delay = intervalMs + backoffDelay(this.#pollFailures - 1, {
        baseMs: intervalMs,
        capMs: MAX_POLL_BACKOFF_MS,
      });
      // One line on the first failure, then one every tenth, not one a poll.
      if (this.#pollFailures === 1 || this.#pollFailures % 10 === 0) {
        this.#logger.warn(
          "Polling for pending jobs failed ({failures} in a row), next try in {seconds} s: {error}",
          {
            failures: this.#pollFailures,
            seconds: Math.ceil(delay / 1000),
            error: message,
          },
        );
      }
      return delay;
    }
  }

  async #sendHeartbeat(): Promise<void> {
    if (!this.#heartbeatSupported) return;
    const { api, settings, orchestratorId, version } = this.#options;
    try {
      const supported = await api.sendHeartbeat({
        id: orchestratorId,
        customerName: settings.customer.customerName,
        lastHeartbeat: new Date().toISOString(),
        version,
        hostName: Deno.hostname(),
        pendingUpdate: this.#updateRequested,
      });
      if (!supported) {
        this.#heartbeatSupported = false;
        this.#logger.info(
          "The IAM API has no heartbeat endpoint (404); heartbeats are off",
        );
      }
    } catch (error) {
      this.#logger.debug("Heartbeat failed: {error}", {
        error: (error as Error).message,
      });
    }
  }

  /**
   * Asks the server whether it wants this orchestrator restarted for an
   * update. If so, acknowledges it and stops taking jobs, so that the
   * shutdown and the exit code let a supervisor start the new version.
   */
  async #checkForUpdate(): Promise<void> {
    if (!this.#updateChecksSupported || this.stopping) return;
    const { api, orchestratorId } = this.#options;
    try {
      const pending = await api.getUpdateStatus(orchestratorId);
      if (pending === null) {
        // A second-generation server also responds 404 until it has accepted
        // this orchestrator's first heartbeat, so only a server without the
        // heartbeat endpoint (the first generation) turns the checks off.
        if (!this.#heartbeatSupported) {
          this.#updateChecksSupported = false;
          this.#logger.info(
            "The IAM API has no update-status endpoint (404); update checks are off",
          );
        }
        return;
      }
      if (!pending) return;
      await api.acknowledgeUpdate(orchestratorId);
      this.#updateRequested = true;
      this.#logger.warn(
        "The IAM API requested an update: taking no new jobs and shutting down",
      );
      this.stop();
    } catch (error) {
      this.#logger.debug("Checking for an update request failed: {error}", {
        error: (error as Error).message,
      });
    }
  }

  async #poll(free: number): Promise<void> {
    const { api, settings, orchestratorId, scheduler } = this.#options;
    const pending = await api.getPendingJobs(
      settings.customer.customerName,
      orchestratorId,
      {
        isKnown: scheduler === undefined
          ? undefined
          : (job) => scheduler.isRegistered(job.id, job.schedule),
      },
    );
    for (const malformed of pending.malformed) {
      await this.#rejectMalformed(malformed.id, malformed.reason);
    }
    let slots = free;
    this.#backlog = false;
    for (const job of pending.jobs) {
      if (this.stopping) return;
      if (this.isRunning(job.id)) continue;
      if (job.status !== "Pending" && job.status !== "Scheduled") continue;
      if (job.jobType === "Scheduled" && scheduler !== undefined) {
        await scheduler.register(job);
        continue;
      }
      if (!await this.#isNewRun(job)) continue;
      if (slots === 0) {
        this.#backlog = true;
        break;
      }
      slots--;
      this.#start(job, {});
    }
  }

  /**
   * Tells a new run from a stale listing of a job this orchestrator already
   * finished: only a server that confirms Pending gets a second run.
   */
  async #isNewRun(job: Job): Promise<boolean> {
    const { store, api } = this.#options;
    if (store.finishedJob(job.id) === null) return true;
    let current: Job | null;
    try {
      current = await api.getJob(job.id);
    } catch (error) {
      this.#logger.warn(
        "Cannot confirm that finished job {jobId} is pending again: {error}",
        { jobId: job.id, error: (error as Error).message },
      );
      return false;
    }
    if (current === null || current.status !== "Pending") return false;
    this.#logger.info(
      "Job {jobId} is pending again on the server; running it again",
      { jobId: job.id, jobName: job.name, customer: job.customer },
    );
    store.forgetFinished(job.id);
    return true;
  }

  async #rejectMalformed(id: string | null, reason: string): Promise<void> {
    if (id === null) {
      // The server lists such a record at every poll and nothing can fail
      // it, so each distinct reason is logged once.
      const key = `record: ${reason}`;
      if (this.#reportedMalformed.has(key)) return;
      this.#reportedMalformed.add(key);
      this.#logger.error(
        "Ignoring a job record that cannot be run or failed: {reason}",
        { reason },
      );
      return;
    }
    if (this.#reportedMalformed.has(id)) return;
    this.#reportedMalformed.add(id);
    this.#logger.error("Job {jobId} is malformed and fails: {reason}", {
      jobId: id,
      reason,
    });
    const { api } = this.#options;
    try {
      await api.postLog({
        jobId: id,
        message: `The orchestrator cannot run this job: ${reason}`,
        level: "Error",
        source: "orchestrator",
      });
      await api.updateStatus(id, "Failed");
    } catch (error) {
      if (error instanceof ApiError && error.retryable) {
        // Reported again at the next poll that lists it.
        this.#reportedMalformed.delete(id);
      }
      this.#logger.warn("Reporting malformed job {jobId} failed: {error}", {
        jobId: id,
        error: (error as Error).message,
      });
    }
  }

  #startWaitingFires(): void {
    while (this.#waitingFires.length > 0 && this.#freeSlots() > 0) {
      const { job, fireTime } = this.#waitingFires.shift()!;
      this.#start(job, { fireTime });
    }
  }

  #start(job: Job, options: RunJobOptions): void {
    const { runner } = this.#options;
    this.#track(job, (signals) => runner.run(job, { ...options, ...signals }));
  }

  #track(
    job: Job,
    execute: (
      signals: Pick<RunJobOptions, "stopSignal" | "detachSignal">,
    ) => Promise<JobRunResult>,
  ): void {
    const key = this.#nextRunKey++;
    this.#options.onJobStarted?.(job);
    const done = (async () => {
      try {
        const result = await execute({
          stopSignal: this.#stopRuns.signal,
          detachSignal: this.#detachRuns.signal,
        });
        this.#options.onJobFinished?.(job, result);
      } catch (error) {
        this.#logger.error(
          "Job {jobId} ended with an unexpected error: {error}",
          {
            jobId: job.id,
            jobName: job.name,
            customer: job.customer,
            error: (error as Error).stack ?? String(error),
          },
        );
      } finally {
        this.#runs.delete(key);
        if (!this.stopping) {
          this.#startWaitingFires();
          if (this.#backlog) this.wake();
        }
      }
    })();
    this.#runs.set(key, { job, done });
  }
}

/** Writes a number of containers in words, such as "1 container". */
function countContainers(count: number): string {
  return count === 1 ? "1 container" : `${count} containers`;
}
