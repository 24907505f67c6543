/**
 * Delivery of a job's log entries and status changes that survives API
 * outages and crashes: every item is committed to the state store's outbox
 * before it is sent, and removed once the API accepted it.
 *
 * While the API responds, a job's items go straight out, one at a time per
 * job (the log shipper and the runner never overlap them). After the first
 * failed send, the job's items stay in the outbox and the outbox sender
 * delivers them in commit order, so nothing overtakes an earlier item and the
 * runner never waits on a down API.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { JobReporter } from "../execution/job_runner.ts";
import { ApiError, type IamApiClient } from "../iam_api/iam_api_client.ts";
import type { JobStatus, LogEntry } from "../iam_api/job.ts";
import { OutboxSender } from "../state/outbox_sender.ts";
import type {
  OutboxItem,
  PendingOutboxItem,
  StateStore,
} from "../state/state_store.ts";

export interface DurableReporterOptions {
  /** Backoff of the outbox sender, for tests. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called after each item the API accepted, for metrics. */
  onDelivered?: (item: OutboxItem) => void;
  /** Called when an item failed and waits for a retry, for metrics. */
  onRetry?: (item: OutboxItem) => void;
}

/** Sends one outbox item to the API. */
export async function sendOutboxItem(
  api: IamApiClient,
  item: OutboxItem,
): Promise<void> {
  if (item.kind === "log") {
    await api.postLog(item.entry);
  } else {
    await api.updateStatus(item.jobId, item.status);
  }
}

/**
 * Tells a failure that no retry can fix: the API rejected the item itself
 * (a 4xx other than 408 and 429), or the job is gone (404).
 */
export function isPermanentFailure(error: unknown): boolean {
  return error instanceof ApiError && error.status !== null &&
    !error.retryable;
}

/** A {@linkcode JobReporter} backed by the state store's outbox. */
export class DurableReporter implements JobReporter {
  readonly #store: StateStore;
  readonly #api: IamApiClient;
  readonly #logger: Logger;
  readonly #sender: OutboxSender;
  readonly #options: DurableReporterOptions;
  /** Jobs whose items wait in the outbox for the sender. */
  readonly #queued = new Set<string>();
  /** Jobs that send directly now; the sender leaves their items alone. */
  readonly #direct = new Set<string>();

  constructor(
    store: StateStore,
    api: IamApiClient,
    logger: Logger,
    options: DurableReporterOptions = {},
  ) {
    this.#store = store;
    this.#api = api;
    this.#logger = logger;
    this.#options = options;
    const source = {
      pending: (limit: number) => this.#pendingForSender(limit),
      acknowledge: (seq: number) => store.acknowledge(seq),
      outboxDepth: () => store.outboxDepth(),
    };
    this.#sender = new OutboxSender(
      source,
      async (item) => {
        await sendOutboxItem(api, item);
        options.onDelivered?.(item);
      },
      {
        baseDelayMs: options.baseDelayMs,
        maxDelayMs: options.maxDelayMs,
        isPermanentFailure,
      },
    );
  }

  /** Starts delivering what the outbox holds, including items of earlier runs. */
  start(): void {
    this.#sender.start();
    this.#sender.kick();
  }

  /** Items not yet accepted by the API. */
  get depth(): number {
    return this.#store.outboxDepth();
  }

  reportStatus(jobId: string, status: JobStatus): Promise<void> {
    return this.#deliver({ kind: "status", jobId, status });
  }

  sendLog(entry: LogEntry): Promise<void> {
    return this.#deliver({ kind: "log", jobId: entry.jobId, entry });
  }

  /**
   * Waits until the outbox is empty, for at most `deadlineMs`.
   *
   * @returns true when every item was delivered
   */
  async flush(deadlineMs: number): Promise<boolean> {
    this.#direct.clear();
    return await this.#sender.drain({ deadlineMs });
  }

  /** Stops the sender; undelivered items stay in the store for the next start. */
  async stop(): Promise<void> {
    await this.#sender.stop();
  }

  async #deliver(item: OutboxItem): Promise<void> {
    // A container entry counts its lines for adoption after a crash; the
    // output pipeline gives stdout level Info and stderr level Error.
    const seq = item.kind === "log" && item.entry.source === "container"
      ? this.#store.enqueueContainerLog(
        item,
        item.entry.level === "Error" ? "stderr" : "stdout",
      )
      : this.#store.enqueue(item);
    if (this.#queued.has(item.jobId) || this.#hasBacklog(item.jobId)) {
      this.#queued.add(item.jobId);
      this.#sender.kick();
      return;
    }
    this.#direct.add(item.jobId);
    try {
      await sendOutboxItem(this.#api, item);
      this.#store.acknowledge(seq);
      this.#options.onDelivered?.(item);
    } catch (error) {
      if (isPermanentFailure(error)) {
        this.#store.acknowledge(seq);
        this.#logger.error(
          "The IAM API rejected a {kind} of job {jobId}; it is dropped: {error}",
          {
            kind: item.kind,
            jobId: item.jobId,
            error: (error as Error).message,
          },
        );
        return;
      }
      this.#logger.warn(
        "Sending a {kind} of job {jobId} failed; it and the job's later " +
          "items wait in the outbox: {error}",
        { kind: item.kind, jobId: item.jobId, error: (error as Error).message },
      );
      this.#options.onRetry?.(item);
      this.#queued.add(item.jobId);
      this.#sender.kick();
    } finally {
      this.#direct.delete(item.jobId);
    }
  }

  #hasBacklog(jobId: string): boolean {
    return this.#store.pendingForJob(jobId).length > 1;
  }

  #pendingForSender(limit: number): PendingOutboxItem[] {
    const items = this.#store.pending(limit + this.#direct.size);
    const ready = items.filter((item) => !this.#direct.has(item.jobId));
    if (ready.length === 0 && items.length === 0) this.#queued.clear();
    return ready.slice(0, limit);
  }
}
