/**
 * Sends a job's status changes and log entries to the IAM API for the job
 * runner, retrying the calls that are safe to repeat.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { JobReporter } from "../execution/job_runner.ts";
import { ApiError, type IamApiClient } from "../iam_api/iam_api_client.ts";
import type { JobStatus, LogEntry } from "../iam_api/job.ts";
import { backoffDelay, type BackoffOptions, sleep } from "../iam_api/retry.ts";

export interface ApiReporterOptions {
  /**
   * Attempts for one status change before it is given up.
   * @default {40}
   */
  maxStatusAttempts?: number;
  backoff?: BackoffOptions;
  /** Aborting it ends the retries at once. */
  signal?: AbortSignal;
}

/** A {@linkcode JobReporter} over the API client. */
export class ApiReporter implements JobReporter {
  readonly #api: IamApiClient;
  readonly #logger: Logger;
  readonly #options: ApiReporterOptions;

  constructor(
    api: IamApiClient,
    logger: Logger,
    options: ApiReporterOptions = {},
  ) {
    this.#api = api;
    this.#logger = logger;
    this.#options = options;
  }

  /**
   * Sets a job's status, retrying failures that a later attempt may not
   * meet. A job the server no longer has (404) or a rejected change is
   * logged and not retried.
   */
  async reportStatus(jobId: string, status: JobStatus): Promise<void> {
    const attempts = this.#options.maxStatusAttempts ?? 40;
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        await this.#api.updateStatus(jobId, status);
        if (attempt > 0) {
          this.#logger.info(
            "Status {status} of job {jobId} sent after {attempts} attempts",
            {
              jobId,
              status,
              attempts: attempt + 1,
            },
          );
        }
        return;
      } catch (error) {
        if (!(error instanceof ApiError) || !error.retryable) {
          this.#logger.error(
            "Status {status} of job {jobId} was rejected: {error}",
            {
              jobId,
              status,
              error: (error as Error).message,
            },
          );
          return;
        }
        if (attempt === 0) {
          this.#logger.warn(
            "Sending status {status} of job {jobId} failed, retrying: {error}",
            {
              jobId,
              status,
              error: error.message,
            },
          );
        }
        await sleep(
          backoffDelay(attempt, this.#options.backoff),
          this.#options.signal,
        );
        if (this.#options.signal?.aborted) break;
      }
    }
    this.#logger.error("Gave up sending status {status} of job {jobId}", {
      jobId,
      status,
    });
  }

  sendLog(entry: LogEntry): Promise<void> {
    return this.#api.postLog(entry);
  }
}
