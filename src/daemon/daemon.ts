/**
 * The daemon: boot (engine check, heartbeat), the poll loop that hands
 * pending jobs to the runner within the concurrency limit, and shutdown.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Settings } from "../config/settings.ts";
import type { JobRunner, JobRunResult } from "../execution/job_runner.ts";
import { ApiError, type IamApiClient } from "../iam_api/iam_api_client.ts";
import type { Job } from "../iam_api/job.ts";
import { backoffDelay, sleep } from "../iam_api/retry.ts";
import type { ExecutionBackend } from "../runtime/execution_backend.ts";
import { BoundedSet } from "./bounded_set.ts";

/** The record of jobs this orchestrator finished, kept across restarts. */
export interface FinishedJobs {
  finishedJob(jobId: string): { status: string; finishedAt: Date } | null;
  recordFinished(
    jobId: string,
    record: { status: "Completed" | "Failed"; finishedAt: Date },
  ): void;
  forgetFinished(jobId: string): void;
}

export interface DaemonOptions {
  settings: Settings;
  api: IamApiClient;
  backend: ExecutionBackend;
  runner: JobRunner;
  finishedJobs: FinishedJobs;
  orchestratorId: string;
  version: string;
  logger: Logger;
  /**
   * Takes a Scheduled job from the pending list when the orchestrator keeps
   * the schedule; returns false to run it now as a one-off occurrence.
   */
  takeScheduledJob?: (job: Job) => boolean;
  /** Called after each job run, for metrics and tests. */
  onJobFinished?: (job: Job, result: JobRunResult) => void;
  /** Called after each poll with its outcome, for readiness. */
  onPoll?: (succeeded: boolean) => void;
}

/** Longest wait between polls while the API keeps failing, in milliseconds. */
const MAX_POLL_BACKOFF_MS = 60_000;
/** Longest wait between engine checks at startup, in milliseconds. */
const MAX_ENGINE_BACKOFF_MS = 30_000;

/** Polls the IAM API and runs its jobs until stopped. */
export class Daemon {
  readonly #options: DaemonOptions;
  readonly #logger: Logger;
  readonly #running = new Map<string, Promise<void>>();
  readonly #reportedMalformed = new BoundedSet<string>(1000);
  #stopController = new AbortController();
  #wakeController = new AbortController();
  #heartbeatSupported = true;
  #pollFailures = 0;
  #backlog = false;

  constructor(options: DaemonOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** Jobs running now. */
  get runningJobIds(): string[] {
    return [...this.#running.keys()];
  }

  /** True once `stop` was called. */
  get stopping(): boolean {
    return this.#stopController.signal.aborted;
  }

  /**
   * Waits for the engine, then polls until `stop` is called. Resolves when
   * polling has ended; running jobs may still be going (see `drain`).
   */
  async run(): Promise<void> {
    if (!await this.#waitForEngine()) return;
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

  /** Ends polling; jobs already running go on. */
  stop(): void {
    this.#stopController.abort();
  }

  /**
   * Waits for running jobs to finish, for at most `timeoutMs`.
   *
   * @returns the ids of jobs still running at the deadline
   */
  async drain(timeoutMs: number): Promise<string[]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled(this.#running.values()),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.runningJobIds;
  }

  /** Polls at once instead of at the end of the current interval. */
  wake(): void {
    this.#wakeController.abort();
  }

  /** Starts a job outside the poll loop, as the scheduler does at a fire time. */
  dispatch(job: Job, fireTime?: Date): boolean {
    if (this.#running.has(job.id)) return false;
    this.#start(job, fireTime);
    return true;
  }

  /** True while a run of the job is going on here. */
  isRunning(jobId: string): boolean {
    return this.#running.has(jobId);
  }

  async #waitForEngine(): Promise<boolean> {
    const { backend } = this.#options;
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        const engine = await backend.describe();
        this.#logger.info(
          "Engine {engine} {engineVersion} (API {apiVersion}) answers",
          {
            engine: engine.name,
            engineVersion: engine.version,
            apiVersion: engine.apiVersion,
          },
        );
        return true;
      } catch (error) {
        const delay = backoffDelay(attempt, {
          baseMs: 1000,
          capMs: MAX_ENGINE_BACKOFF_MS,
        });
        if (attempt === 0 || attempt % 10 === 0) {
          this.#logger.warn(
            "{error}; not polling for jobs until it answers, next try in {seconds} s",
            {
              error: (error as Error).message,
              seconds: Math.ceil(delay / 1000),
            },
          );
        }
        await sleep(delay, this.#stopController.signal);
      }
    }
    return false;
  }

  /** Runs one poll cycle and returns the wait before the next, in ms. */
  async #cycle(): Promise<number> {
    const { settings } = this.#options;
    const intervalMs = settings.api.pollingIntervalSeconds * 1000;
    await this.#sendHeartbeat();
    const free = settings.container.maxConcurrentJobs - this.#running.size;
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
          {
            failures: this.#pollFailures,
          },
        );
      }
      this.#pollFailures = 0;
      this.#options.onPoll?.(true);
      return intervalMs;
    } catch (error) {
      this.#pollFailures++;
      this.#options.onPoll?.(false);
      const delay = intervalMs +
        backoffDelay(this.#pollFailures - 1, {
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
            error: (error as Error).message,
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
        pendingUpdate: false,
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

  async #poll(free: number): Promise<void> {
    const { api, settings, orchestratorId } = this.#options;
    const pending = await api.getPendingJobs(
      settings.customer.customerName,
      orchestratorId,
    );
    for (const malformed of pending.malformed) {
      await this.#rejectMalformed(malformed.id, malformed.reason);
    }
    let slots = free;
    this.#backlog = false;
    for (const job of pending.jobs) {
      if (this.stopping) return;
      if (this.#running.has(job.id)) continue;
      if (job.status !== "Pending" && job.status !== "Scheduled") continue;
      if (
        job.jobType === "Scheduled" && this.#options.takeScheduledJob?.(job)
      ) {
        continue;
      }
      if (!await this.#isNewRun(job)) continue;
      if (slots === 0) {
        this.#backlog = true;
        break;
      }
      slots--;
      this.#start(job);
    }
  }

  /**
   * Tells a new run from a stale listing of a job this orchestrator already
   * finished: only a server that confirms Pending gets a second run.
   */
  async #isNewRun(job: Job): Promise<boolean> {
    const { finishedJobs, api } = this.#options;
    if (finishedJobs.finishedJob(job.id) === null) return true;
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
      {
        jobId: job.id,
        jobName: job.name,
        customer: job.customer,
      },
    );
    finishedJobs.forgetFinished(job.id);
    return true;
  }

  async #rejectMalformed(id: string | null, reason: string): Promise<void> {
    if (id === null) {
      this.#logger.error("Ignoring a malformed job without an id: {reason}", {
        reason,
      });
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

  #start(job: Job, fireTime?: Date): void {
    const { runner, finishedJobs, onJobFinished } = this.#options;
    const run = (async () => {
      try {
        const result = await runner.run(job, { fireTime });
        finishedJobs.recordFinished(job.id, {
          status: result.status,
          finishedAt: new Date(),
        });
        onJobFinished?.(job, result);
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
        this.#running.delete(job.id);
        if (this.#backlog) this.wake();
      }
    })();
    this.#running.set(job.id, run);
  }
}
