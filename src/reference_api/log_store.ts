/**
 * Log entries received through `POST /api/logs`, kept per job in arrival
 * order.
 *
 * @module
 */
import type { LogLevel, LogSource } from "../iam_api/job.ts";
import { jobKey } from "./job_store.ts";

/** One stored log entry. */
export interface LogRecord {
  /** Position in arrival order across all jobs, starting at 1. */
  sequence: number;
  jobId: string;
  message: string;
  level: LogLevel;
  source: LogSource;
  /** Server time of arrival, in milliseconds since the epoch. */
  receivedAt: number;
}

/** Count and total UTF-8 size of the messages received. */
export interface LogStats {
  count: number;
  bytes: number;
}

/** Returns the UTF-8 length of a string without encoding it. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      bytes += 1;
    } else if (code < 0x800) {
      bytes += 2;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair is one code point of four bytes.
        bytes += 4;
        i++;
      } else {
        bytes += 3;
      }
    } else {
      bytes += 3;
    }
  }
  return bytes;
}

/** Log entries and statistics per job. */
export class LogStore {
  #keepEntries: boolean;
  #entries = new Map<string, LogRecord[]>();
  #stats = new Map<string, LogStats>();
  #total: LogStats = { count: 0, bytes: 0 };
  #sequence = 0;

  /**
   * @param options.keepEntries store each entry; when false only the
   *   statistics are kept (default true)
   */
  constructor(options: { keepEntries?: boolean } = {}) {
    this.#keepEntries = options.keepEntries ?? true;
  }

  /** Stores one entry and returns it. */
  append(
    entry: Omit<LogRecord, "sequence" | "receivedAt">,
    receivedAt: number,
  ): LogRecord {
    const key = jobKey(entry.jobId);
    const record: LogRecord = {
      sequence: ++this.#sequence,
      jobId: entry.jobId,
      message: entry.message,
      level: entry.level,
      source: entry.source,
      receivedAt,
    };
    const bytes = utf8ByteLength(entry.message);
    let stats = this.#stats.get(key);
    if (stats === undefined) {
      stats = { count: 0, bytes: 0 };
      this.#stats.set(key, stats);
    }
    stats.count++;
    stats.bytes += bytes;
    this.#total.count++;
    this.#total.bytes += bytes;
    if (this.#keepEntries) {
      let list = this.#entries.get(key);
      if (list === undefined) {
        list = [];
        this.#entries.set(key, list);
      }
      list.push(record);
    }
    return record;
  }

  /**
   * Returns a job's entries in arrival order, or every job's entries when
   * no id is given. Empty when entries are not kept.
   */
  entries(jobId?: string): LogRecord[] {
    if (jobId !== undefined) {
      return [...(this.#entries.get(jobKey(jobId)) ?? [])];
    }
    const all: LogRecord[] = [];
    for (const list of this.#entries.values()) {
      for (const record of list) all.push(record);
    }
    return all.sort((a, b) => a.sequence - b.sequence);
  }

  /** Returns a job's statistics, or the totals when no id is given. */
  stats(jobId?: string): LogStats {
    const stats = jobId === undefined
      ? this.#total
      : this.#stats.get(jobKey(jobId));
    return { count: stats?.count ?? 0, bytes: stats?.bytes ?? 0 };
  }
}
