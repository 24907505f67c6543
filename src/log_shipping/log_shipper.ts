/**
 * Delivery of one job's log lines to the IAM API, in order, through outages.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { LogEntry, LogLevel, LogSource } from "../iam_api/job.ts";
import { LogSpool, type StoredSpoolRecord } from "./log_spool.ts";

/** Destination of log entries, such as the client of `POST /api/logs`. */
export interface LogSink {
  /** Sends one entry and rejects when the API did not accept it. */
  send(entry: LogEntry): Promise<void>;
}

/** Default maximum UTF-8 length of an entry's message: 32 KiB. */
export const DEFAULT_MAX_ENTRY_BYTES = 32 * 1024;
/** Default maximum time in ms that a line waits to share a request. */
export const DEFAULT_FLUSH_INTERVAL_MS = 200;
/** Default maximum UTF-8 length of a job's container output sent: 100 MiB. */
export const DEFAULT_MAX_JOB_LOG_BYTES = 100 * 1024 * 1024;
/** Default maximum UTF-8 length of the lines a job keeps in memory: 4 MiB. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Default base of the retry backoff in ms. */
export const DEFAULT_RETRY_BASE_MS = 250;
/** Default maximum retry backoff in ms. */
export const DEFAULT_RETRY_MAX_MS = 10_000;

/** Options of {@linkcode LogShipper}. */
export interface LogShipperOptions {
  /**
   * Directory for the spool file of lines beyond `maxBufferedBytes`, such as
   * the daemon's state directory. It must exist and be writable.
   */
  spoolDirectory: string;
  /**
   * Maximum UTF-8 length in bytes of the lines that one entry joins with
   * "\n". A single longer line is sent alone in an entry of its own.
   *
   * @default {32 * 1024}
   */
  maxEntryBytes?: number;
  /**
   * Maximum time in ms that a line waits for more lines of its level to
   * share its request, unless an earlier request is still in flight.
   *
   * @default {200}
   */
  flushIntervalMs?: number;
  /**
   * Maximum UTF-8 length in bytes of the container output sent for the job.
   * Later container lines are accepted but counted and dropped.
   *
   * @default {100 * 1024 * 1024}
   */
  maxJobLogBytes?: number;
  /**
   * Maximum UTF-8 length in bytes of the lines kept in memory. Later lines go
   * to the spool file until the backlog has been sent.
   *
   * @default {4 * 1024 * 1024}
   */
  maxBufferedBytes?: number;
  /**
   * Base of the exponential retry backoff in ms.
   *
   * @default {250}
   */
  retryBaseMs?: number;
  /**
   * Maximum retry backoff in ms.
   *
   * @default {10_000}
   */
  retryMaxMs?: number;
  /**
   * Source of random numbers in [0, 1) for the backoff jitter.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/** Options of {@linkcode LogShipper.close}. */
export interface LogShipperCloseOptions {
  /**
   * Time in ms after which the shipper stops retrying and discards the lines
   * not yet delivered. Without it, `close` waits until every line is sent.
   */
  deadlineMs?: number;
}

/** Counters of a {@linkcode LogShipper}. Bytes are UTF-8 bytes of text. */
export interface LogShipperStats {
  /** Lines the sink accepted. */
  linesShipped: number;
  /** Text bytes of the lines the sink accepted, without separators. */
  bytesShipped: number;
  /** Lines over `maxJobLogBytes`, and lines discarded at a close deadline. */
  linesDropped: number;
  /** Text bytes of the dropped lines. */
  bytesDropped: number;
  /** Failed calls of the sink, each retried later. */
  sendFailures: number;
  /** Lines accepted and not yet delivered, in memory or in the spool. */
  linesPending: number;
  /** Lines currently in the spool file. */
  linesSpooled: number;
}

interface QueuedLine {
  level: LogLevel;
  source: LogSource;
  text: string;
  bytes: number;
  /** `Date.now()` when the line was queued, or 0 when read from the spool. */
  queuedAt: number;
}

interface PendingEntry {
  entry: LogEntry;
  lines: number;
  bytes: number;
}

const logger = getLogger(["iam-orchestrator", "log-shipping"]);

/**
 * Sends the log lines of one job to a {@linkcode LogSink}, in the order they
 * were appended, with one request in flight at a time.
 *
 * Consecutive lines of the same level and source share an entry, joined with
 * "\n", up to `maxEntryBytes`. Lines of different levels or sources never
 * share an entry, so stdout, then stderr, then stdout gives three entries in
 * that order. An entry is sent when it is full, when a line of another level
 * or source follows it, or when its oldest line has waited `flushIntervalMs`.
 * While a request is in flight, lines wait for it to finish.
 *
 * A failed send is retried with the same entry, forever, after a delay drawn
 * uniformly from zero to `min(retryMaxMs, retryBaseMs * 2 ** (failures - 1))`
 * (full jitter). While the API is down, lines beyond `maxBufferedBytes` go to
 * a {@linkcode LogSpool} file and come back in order. If the spool file
 * cannot be written, later lines stay in memory instead, so nothing is lost
 * but memory grows.
 *
 * NOTE: when a request reached the API but its response was lost, the retry
 * sends the entry a second time, because `POST /api/logs` has no key that
 * would let the server drop the duplicate.
 */
export class LogShipper {
  #jobId: string;
  #sink: LogSink;
  #maxEntryBytes: number;
  #flushIntervalMs: number;
  #maxJobLogBytes: number;
  #maxBufferedBytes: number;
  #retryBaseMs: number;
  #retryMaxMs: number;
  #random: () => number;
  #logger: ReturnType<typeof getLogger>;

  // Lines in memory, oldest at #memoryHead. Those before it are delivered.
  #memory: QueuedLine[] = [];
  #memoryHead = 0;
  #memoryBytes = 0;
  // The run of equal level and source at the end of #memory.
  #tailKey = "";
  #tailRunBytes = 0;
  // Lines newer than all of #memory. #overflow is newer than the spool.
  #spool: LogSpool;
  #overflow: QueuedLine[] = [];
  #spoolFailed = false;

  #pending: PendingEntry | null = null;
  #failures = 0;
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;

  #acceptedBytes = 0;
  #limitReached = false;
  #omittedLines = 0;
  #omittedBytes = 0;

  #closing = false;
  #abandoned = false;
  #closeResult: Promise<number> | null = null;
  #onIdle: (() => void) | null = null;

  #linesShipped = 0;
  #bytesShipped = 0;
  #linesDropped = 0;
  #bytesDropped = 0;
  #sendFailures = 0;

  /**
   * @throws {RangeError} when a size or time option is not a positive
   *   integer
   */
  constructor(jobId: string, sink: LogSink, options: LogShipperOptions) {
    this.#jobId = jobId;
    this.#sink = sink;
    this.#maxEntryBytes = positiveInteger(
      "maxEntryBytes",
      options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES,
    );
    this.#flushIntervalMs = positiveInteger(
      "flushIntervalMs",
      options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
    );
    this.#maxJobLogBytes = positiveInteger(
      "maxJobLogBytes",
      options.maxJobLogBytes ?? DEFAULT_MAX_JOB_LOG_BYTES,
    );
    this.#maxBufferedBytes = positiveInteger(
      "maxBufferedBytes",
      options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
    );
    this.#retryBaseMs = positiveInteger(
      "retryBaseMs",
      options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS,
    );
    this.#retryMaxMs = positiveInteger(
      "retryMaxMs",
      options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
    );
    this.#random = options.random ?? Math.random;
    this.#spool = new LogSpool(options.spoolDirectory, {
      prefix: `job-${jobId}`,
    });
    this.#logger = logger.with({ jobId });
  }

  /** Current counters. */
  get stats(): LogShipperStats {
    return {
      linesShipped: this.#linesShipped,
      bytesShipped: this.#bytesShipped,
      linesDropped: this.#linesDropped,
      bytesDropped: this.#bytesDropped,
      sendFailures: this.#sendFailures,
      linesPending: this.#memory.length - this.#memoryHead +
        this.#spool.pendingRecords + this.#overflow.length,
      linesSpooled: this.#spool.pendingRecords,
    };
  }

  /**
   * Queues a line of container output and returns at once.
   *
   * Past `maxJobLogBytes` of container output, the line is counted and
   * dropped, and so is every later container line.
   *
   * @throws {Error} when the shipper is closed
   */
  append(line: string, level: LogLevel): void {
    this.#assertOpen();
    const bytes = utf8Length(line);
    if (
      this.#limitReached || this.#acceptedBytes + bytes > this.#maxJobLogBytes
    ) {
      if (!this.#limitReached) {
        this.#limitReached = true;
        this.#logger.warn(
          "Container output of job {jobId} reached {maxJobLogBytes} bytes, " +
            "so later lines are not sent",
          { maxJobLogBytes: this.#maxJobLogBytes },
        );
      }
      this.#omittedLines++;
      this.#omittedBytes += bytes;
      this.#linesDropped++;
      this.#bytesDropped += bytes;
      return;
    }
    this.#acceptedBytes += bytes;
    this.#enqueue(line, level, "container");
  }

  /**
   * Queues a message of the orchestrator itself, in order with the container
   * lines, and returns at once. It does not count towards `maxJobLogBytes`.
   *
   * @throws {Error} when the shipper is closed
   */
  appendOrchestrator(message: string, level: LogLevel): void {
    this.#assertOpen();
    this.#enqueue(message, level, "orchestrator");
  }

  /**
   * Sends every queued line and resolves with the number of lines that were
   * not delivered: 0, unless `deadlineMs` passed first. In that case the
   * shipper stops retrying, deletes its spool and counts the rest as dropped.
   * An entry whose request was in flight at the deadline counts as not
   * delivered. Later calls return the result of the first.
   *
   * When container lines were dropped over `maxJobLogBytes`, a last entry of
   * level Warning and source orchestrator states how many.
   */
  close(options: LogShipperCloseOptions = {}): Promise<number> {
    if (this.#closeResult === null) {
      this.#closeResult = this.#close(options.deadlineMs);
    }
    return this.#closeResult;
  }

  async #close(deadlineMs: number | undefined): Promise<number> {
    if (this.#omittedLines > 0) {
      this.#enqueue(
        `Container output reached the limit of ${this.#maxJobLogBytes} ` +
          `bytes for one job, so the last ${this.#omittedLines} lines ` +
          `(${this.#omittedBytes} bytes) were not sent. Raise ` +
          `LogSettings:MaxJobLogBytes or make the script print less`,
        "Warning",
        "orchestrator",
      );
    }
    this.#closing = true;
    const idle = new Promise<void>((resolve) => {
      this.#onIdle = resolve;
    });
    this.#schedule();

    if (deadlineMs === undefined) {
      await idle;
      return 0;
    }
    let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      deadlineTimer = setTimeout(() => resolve("deadline"), deadlineMs);
    });
    const outcome = await Promise.race([idle, deadline]);
    clearTimeout(deadlineTimer);
    if (outcome !== "deadline") return 0;
    return this.#abandon();
  }

  /** Stops delivery and returns the number of lines discarded. */
  #abandon(): number {
    this.#abandoned = true;
    this.#clearTimers();
    let lines = 0;
    let bytes = 0;
    for (let index = this.#memoryHead; index < this.#memory.length; index++) {
      lines++;
      bytes += this.#memory[index].bytes;
    }
    lines += this.#spool.pendingRecords + this.#overflow.length;
    bytes += this.#spool.pendingBytes;
    for (const line of this.#overflow) bytes += line.bytes;
    this.#memory = [];
    this.#memoryHead = 0;
    this.#memoryBytes = 0;
    this.#overflow = [];
    this.#spool.close();
    this.#linesDropped += lines;
    this.#bytesDropped += bytes;
    this.#logger.error(
      "Gave up delivering {lines} log lines of job {jobId} at the close " +
        "deadline after {failures} failed attempts in a row",
      { lines, failures: this.#failures },
    );
    return lines;
  }

  #assertOpen(): void {
    if (this.#closing) {
      throw new Error(
        `Cannot append to the log of job "${this.#jobId}": the shipper is ` +
          `closed, so append every line before calling close`,
      );
    }
  }

  #enqueue(text: string, level: LogLevel, source: LogSource): void {
    const line: QueuedLine = {
      level,
      source,
      text,
      bytes: utf8Length(text),
      queuedAt: Date.now(),
    };
    let completesRun = true;
    const behindBacklog = this.#spool.pendingRecords > 0 ||
      this.#overflow.length > 0;
    const memoryFull = this.#memory.length > this.#memoryHead &&
      this.#memoryBytes + line.bytes > this.#maxBufferedBytes;
    if (behindBacklog || memoryFull) {
      this.#spoolLine(line);
    } else {
      completesRun = this.#pushMemory(line);
    }

    if (this.#pending !== null || this.#abandoned) return;
    if (this.#flushTimer === null) {
      this.#schedule();
    } else if (completesRun) {
      this.#clearFlushTimer();
      this.#startSend();
    }
  }

  /**
   * Adds a line to memory and returns whether the run of lines before it is
   * now complete: the line's level or source differs, or the run is full.
   */
  #pushMemory(line: QueuedLine): boolean {
    const key = `${line.level}/${line.source}`;
    const wasEmpty = this.#memory.length === this.#memoryHead;
    this.#memory.push(line);
    this.#memoryBytes += line.bytes;
    if (wasEmpty || key !== this.#tailKey) {
      const completesRun = !wasEmpty;
      this.#tailKey = key;
      this.#tailRunBytes = line.bytes;
      return completesRun || line.bytes >= this.#maxEntryBytes;
    }
    this.#tailRunBytes += 1 + line.bytes;
    return this.#tailRunBytes >= this.#maxEntryBytes;
  }

  #spoolLine(line: QueuedLine): void {
    if (!this.#spoolFailed) {
      try {
        this.#spool.append(line);
        return;
      } catch (error) {
        this.#spoolFailed = true;
        this.#logger.error(
          "Cannot write the log spool of job {jobId}, so later lines stay " +
            "in memory: {error}",
          { error },
        );
      }
    }
    this.#overflow.push(line);
  }

  /** Moves lines from the spool and the overflow into memory while they fit. */
  #refill(): void {
    while (this.#memoryBytes < this.#maxBufferedBytes) {
      if (this.#spool.pendingRecords > 0) {
        let records: StoredSpoolRecord[];
        try {
          records = this.#spool.read(
            this.#maxBufferedBytes - this.#memoryBytes,
          );
        } catch (error) {
          this.#discardSpool(error);
          continue;
        }
        for (const record of records) {
          this.#pushMemory({ ...record, queuedAt: 0 });
        }
      } else if (this.#overflow.length > 0) {
        // One splice per refill, because shifting line by line is quadratic.
        let count = 0;
        let bytes = this.#memoryBytes;
        while (
          count < this.#overflow.length && bytes < this.#maxBufferedBytes
        ) {
          bytes += this.#overflow[count].bytes;
          count++;
        }
        for (const line of this.#overflow.splice(0, count)) {
          this.#pushMemory(line);
        }
      } else {
        return;
      }
    }
  }

  /** Drops the lines of an unreadable spool and adds an Error entry about it. */
  #discardSpool(error: unknown): void {
    const lines = this.#spool.pendingRecords;
    const bytes = this.#spool.pendingBytes;
    this.#linesDropped += lines;
    this.#bytesDropped += bytes;
    try {
      this.#spool.close();
    } catch (closeError) {
      this.#logger.warn("Cannot delete the log spool of job {jobId}: {error}", {
        error: closeError,
      });
    }
    this.#logger.error(
      "Cannot read the log spool of job {jobId}, so {lines} lines are lost: " +
        "{error}",
      { lines, error },
    );
    const text = `The orchestrator lost ${lines} lines (${bytes} bytes) of ` +
      `this job's output because its spool file could not be read back`;
    this.#pushMemory({
      level: "Error",
      source: "orchestrator",
      text,
      bytes: utf8Length(text),
      queuedAt: 0,
    });
  }

  /** Starts a send when an entry is due, or sets the flush timer. */
  #schedule(): void {
    if (this.#pending !== null || this.#abandoned) return;
    this.#refill();
    if (this.#memory.length === this.#memoryHead) {
      this.#clearFlushTimer();
      if (this.#closing) this.#onIdle?.();
      return;
    }
    if (this.#closing || this.#headRunComplete()) {
      this.#clearFlushTimer();
      this.#startSend();
      return;
    }
    if (this.#flushTimer === null) {
      const oldest = this.#memory[this.#memoryHead].queuedAt;
      const delay = Math.max(0, oldest + this.#flushIntervalMs - Date.now());
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = null;
        if (this.#pending === null && !this.#abandoned) this.#startSend();
      }, delay);
    }
  }

  #headRunComplete(): boolean {
    const first = this.#memory[this.#memoryHead];
    let bytes = -1;
    for (let index = this.#memoryHead; index < this.#memory.length; index++) {
      const line = this.#memory[index];
      if (line.level !== first.level || line.source !== first.source) {
        return true;
      }
      bytes += 1 + line.bytes;
      if (bytes >= this.#maxEntryBytes) return true;
    }
    return this.#spool.pendingRecords > 0 || this.#overflow.length > 0;
  }

  /** Builds the entry from the lines at the head of memory and sends it. */
  #startSend(): void {
    const first = this.#memory[this.#memoryHead];
    const texts = [first.text];
    let bytes = first.bytes;
    let messageBytes = first.bytes;
    for (
      let index = this.#memoryHead + 1;
      index < this.#memory.length;
      index++
    ) {
      const line = this.#memory[index];
      if (line.level !== first.level || line.source !== first.source) break;
      if (messageBytes + 1 + line.bytes > this.#maxEntryBytes) break;
      texts.push(line.text);
      bytes += line.bytes;
      messageBytes += 1 + line.bytes;
    }
    this.#pending = {
      entry: {
        jobId: this.#jobId,
        message: texts.join("\n"),
        level: first.level,
        source: first.source,
      },
      lines: texts.length,
      bytes,
    };
    this.#deliver(this.#pending);
  }

  async #deliver(pending: PendingEntry): Promise<void> {
    try {
      await this.#sink.send(pending.entry);
    } catch (error) {
      if (this.#abandoned) return;
      this.#retryLater(pending, error);
      return;
    }
    if (this.#abandoned) return;

    if (this.#failures > 0) {
      this.#logger.info(
        "Delivered the log of job {jobId} again after {failures} failed " +
          "attempts",
        { failures: this.#failures },
      );
    }
    this.#failures = 0;
    this.#removeDelivered(pending.lines);
    this.#linesShipped += pending.lines;
    this.#bytesShipped += pending.bytes;
    this.#pending = null;
    this.#schedule();
  }

  #retryLater(pending: PendingEntry, error: unknown): void {
    this.#sendFailures++;
    this.#failures++;
    const ceiling = Math.min(
      this.#retryMaxMs,
      this.#retryBaseMs * 2 ** Math.min(this.#failures - 1, 30),
    );
    const delayMs = Math.floor(this.#random() * ceiling);
    // Failures double the logged interval, so an outage of hours logs a few
    // dozen warnings instead of thousands.
    if ((this.#failures & (this.#failures - 1)) === 0) {
      this.#logger.warn(
        "Cannot send the log of job {jobId} (attempt {failures}), retrying " +
          "in {delayMs} ms: {error}",
        { failures: this.#failures, delayMs, error },
      );
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#deliver(pending);
    }, delayMs);
  }

  #removeDelivered(count: number): void {
    for (let index = 0; index < count; index++) {
      this.#memoryBytes -= this.#memory[this.#memoryHead + index].bytes;
    }
    this.#memoryHead += count;
    if (this.#memoryHead === this.#memory.length) {
      this.#memory = [];
      this.#memoryHead = 0;
      this.#tailKey = "";
      this.#tailRunBytes = 0;
    } else if (
      this.#memoryHead > 1024 && this.#memoryHead * 2 > this.#memory.length
    ) {
      // Drops delivered lines now and then, so that removal stays O(1).
      this.#memory = this.#memory.slice(this.#memoryHead);
      this.#memoryHead = 0;
    }
  }

  #clearFlushTimer(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
  }

  #clearTimers(): void {
    this.#clearFlushTimer();
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Invalid ${name} "${value}": expected a positive integer`,
    );
  }
  return value;
}

/** Returns the UTF-8 length of a string without encoding it. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) {
      bytes += 1;
    } else if (code < 0x800) {
      bytes += 2;
    } else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        index++;
      } else {
        bytes += 3;
      }
    } else {
      // Other characters, and lone surrogates encoded as U+FFFD, take 3.
      bytes += 3;
    }
  }
  return bytes;
}
