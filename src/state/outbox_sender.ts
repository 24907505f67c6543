/**
 * Delivery of the outbox to the IAM API, in order, through outages.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { PendingOutboxItem } from "./state_store.ts";

const logger = getLogger(["iam-orchestrator", "state"]);

/** The part of the state store that the sender reads and updates. */
export interface OutboxSource {
  pending(limit: number): PendingOutboxItem[];
  acknowledge(seq: number): unknown;
  outboxDepth(): number;
}

/**
 * Delivers one item to the IAM API. It resolves once the API accepted the
 * item and rejects on any failure. `signal` is aborted by
 * {@link OutboxSender.stop}, so a request in flight can end early.
 */
export type SendOutboxItem = (
  item: PendingOutboxItem,
  options: { signal: AbortSignal },
) => Promise<void>;

/** Settings for {@link OutboxSender}. */
export interface OutboxSenderOptions {
  /**
   * The backoff ceiling after the first failure, in milliseconds. It doubles
   * with each further failure in a row.
   * @default 250
   */
  baseDelayMs?: number;
  /**
   * The highest backoff ceiling, in milliseconds.
   * @default 30000
   */
  maxDelayMs?: number;
  /**
   * Returns a number in [0, 1) that picks the delay below the ceiling.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Failures in a row before the first warning is logged. Earlier ones are
   * logged at debug level.
   * @default 3
   */
  warnAfterFailures?: number;
  /**
   * The shortest time between two warnings while failures go on, in
   * milliseconds.
   * @default 60000
   */
  reminderIntervalMs?: number;
  /**
   * Returns true for an error that retrying cannot fix, such as the API
   * rejecting the item as invalid. Such an item is logged as an error and
   * removed, so it does not block the items behind it.
   * @default () => false, so every item is retried until it is accepted
   */
  isPermanentFailure?: (error: unknown) => boolean;
}

/**
 * Sends outbox items to the IAM API in sequence order and acknowledges each
 * one once it was accepted.
 *
 * Exactly one item is in flight at a time, across all jobs: this keeps the
 * global order, so a job's final status is never sent before the log entries
 * enqueued ahead of it. A failed item is retried, ahead of every later item,
 * with exponential backoff and full jitter: the delay is a random share of
 * `min(maxDelayMs, baseDelayMs * 2 ** (failures - 1))`.
 *
 * Delivery is at least once: an item whose send succeeded but whose
 * acknowledgement failed, or was cut by a crash, is sent again.
 *
 * When idle, the sender waits for {@link OutboxSender.kick} with no timer
 * pending, so an idle or stopped sender does not keep the process alive.
 */
export class OutboxSender {
  readonly #source: OutboxSource;
  readonly #send: SendOutboxItem;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #random: () => number;
  readonly #warnAfterFailures: number;
  readonly #reminderIntervalMs: number;
  readonly #isPermanentFailure: (error: unknown) => boolean;
  readonly #abort = new AbortController();

  #loop: Promise<void> | null = null;
  #stopped = false;
  #kicked = false;
  /** Ends the current idle wait or backoff sleep. */
  #wake: (() => void) | null = null;
  #sleepTimer: ReturnType<typeof setTimeout> | undefined;
  #drainWaiters = new Set<(empty: boolean) => void>();

  #failures = 0;
  #warned = false;
  #lastWarningAt = 0;

  /**
   * Creates a sender. Call {@link OutboxSender.start} to begin sending.
   *
   * @param source the state store, or anything with its outbox methods
   * @param send delivers one item, as {@link SendOutboxItem} describes
   * @throws {RangeError} when a delay or count option is out of range
   */
  constructor(
    source: OutboxSource,
    send: SendOutboxItem,
    options: OutboxSenderOptions = {},
  ) {
    this.#baseDelayMs = requireNonNegative(
      options.baseDelayMs ?? 250,
      "baseDelayMs",
    );
    this.#maxDelayMs = requireNonNegative(
      options.maxDelayMs ?? 30_000,
      "maxDelayMs",
    );
    this.#reminderIntervalMs = requireNonNegative(
      options.reminderIntervalMs ?? 60_000,
      "reminderIntervalMs",
    );
    const warnAfterFailures = options.warnAfterFailures ?? 3;
    if (!Number.isSafeInteger(warnAfterFailures) || warnAfterFailures < 1) {
      throw new RangeError(
        `Invalid warnAfterFailures "${warnAfterFailures}": expected a ` +
          `positive integer`,
      );
    }
    this.#warnAfterFailures = warnAfterFailures;
    this.#random = options.random ?? Math.random;
    this.#isPermanentFailure = options.isPermanentFailure ?? (() => false);
    this.#source = source;
    this.#send = send;
  }

  /** Starts sending. Calling it again, or after stop, does nothing. */
  start(): void {
    if (this.#loop !== null || this.#stopped) return;
    this.#loop = this.#run().catch((error) => {
      logger.error("Outbox sender stopped on an unexpected error: {error}", {
        error,
      });
    });
  }

  /**
   * Wakes an idle sender to look for new items. Call it after enqueueing.
   * It does not cut a backoff delay short, and does nothing before
   * {@link OutboxSender.start}.
   */
  kick(): void {
    this.#kicked = true;
    if (this.#sleepTimer === undefined) this.#wakeUp();
  }

  /**
   * Sends until the outbox is empty or the time is up, for shutdown. Starts
   * the sender when it was not started, and retries a failed item at once
   * instead of waiting out its backoff delay.
   *
   * @param options.deadlineMs the longest time to wait, in milliseconds
   *   from the call
   * @returns true when the outbox is empty, false when items remain
   */
  drain(options: { deadlineMs: number }): Promise<boolean> {
    const deadlineMs = requireNonNegative(options.deadlineMs, "deadlineMs");
    if (this.#stopped) return Promise.resolve(this.#isEmpty());
    this.start();
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => finish(false), deadlineMs);
      const finish = (empty: boolean) => {
        clearTimeout(timer);
        this.#drainWaiters.delete(finish);
        resolve(empty);
      };
      this.#drainWaiters.add(finish);
      this.#kicked = true;
      this.#wakeUp();
    });
  }

  /**
   * Stops sending: clears timers, aborts the send in flight through its
   * signal, and resolves once that send has settled. An item whose send
   * still succeeded is acknowledged, and the others stay in the outbox. Pending
   * {@link OutboxSender.drain} calls resolve with whether the outbox is
   * empty.
   */
  async stop(): Promise<void> {
    if (this.#stopped) {
      await this.#loop;
      return;
    }
    this.#stopped = true;
    this.#abort.abort();
    this.#wakeUp();
    const empty = this.#isEmpty();
    for (const finish of [...this.#drainWaiters]) finish(empty);
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let item: PendingOutboxItem | undefined;
      try {
        [item] = this.#source.pending(1);
      } catch (error) {
        this.#recordFailure(error, null);
        await this.#sleep(this.#backoffDelay());
        continue;
      }

      if (item === undefined) {
        for (const finish of [...this.#drainWaiters]) finish(true);
        await this.#idle();
        continue;
      }

      try {
        await this.#send(item, { signal: this.#abort.signal });
      } catch (error) {
        if (this.#stopped) return;
        if (this.#isPermanentFailure(error)) {
          this.#drop(item, error);
          continue;
        }
        this.#recordFailure(error, item);
        await this.#sleep(this.#backoffDelay());
        continue;
      }

      try {
        this.#source.acknowledge(item.seq);
      } catch (error) {
        // The API already has the item, so the retry sends it a second time.
        this.#recordFailure(error, item);
        await this.#sleep(this.#backoffDelay());
        continue;
      }
      this.#recordSuccess();
    }
  }

  #drop(item: PendingOutboxItem, error: unknown): void {
    logger.error(
      "The IAM API rejected outbox item {seq} ({kind}) of job {jobId} " +
        "permanently, so the item is dropped: {error}",
      { seq: item.seq, kind: item.kind, jobId: item.jobId, error },
    );
    try {
      this.#source.acknowledge(item.seq);
    } catch (ackError) {
      this.#recordFailure(ackError, item);
    }
  }

  #recordFailure(error: unknown, item: PendingOutboxItem | null): void {
    this.#failures++;
    const now = Date.now();
    const properties = {
      failures: this.#failures,
      seq: item?.seq,
      kind: item?.kind,
      jobId: item?.jobId,
      outboxDepth: this.#depthOrNull(),
      error,
    };
    if (!this.#warned && this.#failures >= this.#warnAfterFailures) {
      this.#warned = true;
      this.#lastWarningAt = now;
      logger.warn(
        "Sending the outbox to the IAM API failed {failures} times in a " +
          "row, retrying with backoff while {outboxDepth} items wait: {error}",
        properties,
      );
      return;
    }
    if (this.#warned && now - this.#lastWarningAt >= this.#reminderIntervalMs) {
      this.#lastWarningAt = now;
      logger.warn(
        "Sending the outbox to the IAM API still fails after {failures} " +
          "attempts, {outboxDepth} items wait: {error}",
        properties,
      );
      return;
    }
    logger.debug(
      "Sending outbox item {seq} of job {jobId} failed (attempt " +
        "{failures}): {error}",
      properties,
    );
  }

  #recordSuccess(): void {
    if (this.#warned) {
      logger.info(
        "Sending the outbox to the IAM API works again after {failures} " +
          "failed attempts",
        { failures: this.#failures, outboxDepth: this.#depthOrNull() },
      );
    }
    this.#failures = 0;
    this.#warned = false;
  }

  #backoffDelay(): number {
    // The exponent is capped so the product stays a finite number.
    const exponent = Math.min(this.#failures - 1, 40);
    const ceiling = Math.min(
      this.#maxDelayMs,
      this.#baseDelayMs * 2 ** Math.max(exponent, 0),
    );
    return Math.floor(this.#random() * ceiling);
  }

  #idle(): Promise<void> {
    if (this.#kicked || this.#stopped) {
      this.#kicked = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = null;
        this.#kicked = false;
        resolve();
      };
    });
  }

  #sleep(delayMs: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#sleepTimer = setTimeout(() => this.#wakeUp(), delayMs);
      this.#wake = () => {
        clearTimeout(this.#sleepTimer);
        this.#sleepTimer = undefined;
        this.#wake = null;
        resolve();
      };
    });
  }

  #wakeUp(): void {
    this.#wake?.();
  }

  #isEmpty(): boolean {
    return this.#depthOrNull() === 0;
  }

  /** Returns the outbox depth, or null when the store cannot be read. */
  #depthOrNull(): number | null {
    try {
      return this.#source.outboxDepth();
    } catch {
      return null;
    }
  }
}

function requireNonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Invalid ${name} "${value}": expected a non-negative number of ` +
        `milliseconds`,
    );
  }
  return value;
}
