/**
 * First-in first-out queue of log lines in a file, for output that does not
 * fit in memory while the IAM API is unreachable.
 *
 * @module
 */
import type { LogLevel, LogSource } from "../iam_api/job.ts";

/** One line in the spool. */
export interface SpoolRecord {
  level: LogLevel;
  source: LogSource;
  text: string;
}

/** A line read back from the spool, with the UTF-8 length of its text. */
export interface StoredSpoolRecord extends SpoolRecord {
  bytes: number;
}

/** Options of {@linkcode LogSpool}. */
export interface LogSpoolOptions {
  /**
   * Start of the spool file's name, followed by a random UUID. Characters
   * other than letters, digits, "-" and "_" are replaced by "_".
   *
   * @default {"log-spool"}
   */
  prefix?: string;
}

// The codes are stored in files, so new values go at the end.
const LEVELS: readonly LogLevel[] = ["Info", "Warning", "Error", "Debug"];
const SOURCES: readonly LogSource[] = ["container", "orchestrator"];

// Text length as a big-endian uint32, then a level code and a source code.
const RECORD_HEADER_BYTES = 6;
const MIN_READ_BYTES = 64 * 1024;

/**
 * An append-only file of length-prefixed records that are read back in the
 * order they were appended.
 *
 * The file is created in the given directory on the first append and deleted
 * as soon as every record has been read, or on {@linkcode LogSpool.close}.
 * Reads and writes are synchronous, which keeps the callers simple. The
 * directory should be on a local disk, where each access is short.
 *
 * NOTE: a spool file left behind by a crashed process is not read again on
 * the next start. Its lines are lost and the file stays until removed.
 */
export class LogSpool {
  #directory: string;
  #prefix: string;
  #file: Deno.FsFile | null = null;
  #path: string | null = null;
  #readOffset = 0;
  #writeOffset = 0;
  #pendingRecords = 0;
  #pendingBytes = 0;
  #encoder = new TextEncoder();
  #decoder = new TextDecoder();

  constructor(directory: string, options: LogSpoolOptions = {}) {
    this.#directory = directory;
    this.#prefix = (options.prefix ?? "log-spool").replace(
      /[^A-Za-z0-9_-]/g,
      "_",
    );
  }

  /** Number of records appended and not yet read. */
  get pendingRecords(): number {
    return this.#pendingRecords;
  }

  /** UTF-8 length of the text of the records not yet read. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Path of the spool file, or null while there is none. */
  get path(): string | null {
    return this.#path;
  }

  /**
   * Appends a record at the end of the spool, creating the file if needed.
   *
   * @throws {Deno.errors.NotFound} and other file system errors when the
   *   directory is missing or not writable, and then appends nothing
   */
  append(record: SpoolRecord): void {
    const text = this.#encoder.encode(record.text);
    const bytes = new Uint8Array(RECORD_HEADER_BYTES + text.length);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, text.length, false);
    view.setUint8(4, LEVELS.indexOf(record.level));
    view.setUint8(5, SOURCES.indexOf(record.source));
    bytes.set(text, RECORD_HEADER_BYTES);

    const file = this.#openFile();
    writeFully(file, bytes, this.#writeOffset);
    this.#writeOffset += bytes.length;
    this.#pendingRecords++;
    this.#pendingBytes += text.length;
  }

  /**
   * Reads the next records in order, removing them from the spool: as many
   * as fit in `maxBytes` of text, and at least one when any is pending.
   * Deletes the file when the last record has been read.
   *
   * @throws {RangeError} when the file contains an invalid record
   */
  read(maxBytes: number): StoredSpoolRecord[] {
    const file = this.#file;
    if (file === null || this.#pendingRecords === 0) return [];

    const available = this.#writeOffset - this.#readOffset;
    const blockBytes = Math.min(
      available,
      Math.max(maxBytes + RECORD_HEADER_BYTES, MIN_READ_BYTES),
    );
    let block = readFully(file, this.#readOffset, blockBytes);
    const records: StoredSpoolRecord[] = [];
    let textBytes = 0;
    let position = 0;
    while (position + RECORD_HEADER_BYTES <= block.length) {
      const view = new DataView(block.buffer, block.byteOffset + position);
      const length = view.getUint32(0, false);
      const level = LEVELS[view.getUint8(4)];
      const source = SOURCES[view.getUint8(5)];
      const end = position + RECORD_HEADER_BYTES + length;
      if (level === undefined || source === undefined || end > available) {
        throw new RangeError(
          `Invalid record at byte ${this.#readOffset + position} of the log ` +
            `spool "${this.#path}": the file is corrupt, so delete it`,
        );
      }
      if (records.length > 0 && textBytes + length > maxBytes) break;
      if (end > block.length) {
        if (records.length > 0) break;
        // The first record is larger than the block, so read it whole.
        block = readFully(file, this.#readOffset, end);
      }
      records.push({
        level,
        source,
        text: this.#decoder.decode(
          block.subarray(position + RECORD_HEADER_BYTES, end),
        ),
        bytes: length,
      });
      textBytes += length;
      position = end;
    }

    this.#readOffset += position;
    this.#pendingRecords -= records.length;
    this.#pendingBytes -= textBytes;
    if (this.#pendingRecords === 0) this.close();
    return records;
  }

  /** Closes and deletes the spool file, discarding unread records. */
  close(): void {
    const file = this.#file;
    const path = this.#path;
    this.#file = null;
    this.#path = null;
    this.#readOffset = 0;
    this.#writeOffset = 0;
    this.#pendingRecords = 0;
    this.#pendingBytes = 0;
    if (file === null || path === null) return;
    file.close();
    try {
      Deno.removeSync(path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  #openFile(): Deno.FsFile {
    if (this.#file !== null) return this.#file;
    const path = `${this.#directory}/${this.#prefix}-${crypto.randomUUID()}` +
      `.spool`;
    // Job output is customer data, so only the daemon's user may read it.
    this.#file = Deno.openSync(path, {
      read: true,
      write: true,
      createNew: true,
      mode: 0o600,
    });
    this.#path = path;
    return this.#file;
  }
}

function writeFully(file: Deno.FsFile, bytes: Uint8Array, offset: number) {
  file.seekSync(offset, Deno.SeekMode.Start);
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

function readFully(
  file: Deno.FsFile,
  offset: number,
  length: number,
): Uint8Array {
  file.seekSync(offset, Deno.SeekMode.Start);
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const count = file.readSync(bytes.subarray(filled));
    if (count === null) {
      throw new RangeError(
        `Log spool file ended at byte ${offset + filled}, expected ${
          offset + length
        } bytes: the file was truncated by another process`,
      );
    }
    filled += count;
  }
  return bytes;
}
