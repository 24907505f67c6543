/**
 * Whole frames of the engine's multiplexed log stream with timestamps, so
 * that a log can be read again from a point without repeating messages.
 *
 * Docker Engine 20.10 can end a follow stream when the container stops,
 * before the last message without a newline is written to the log (seen
 * here in about one run in eight of `printf 'no newline'`). The backend
 * therefore reads the rest of the log once more after the stream ended, from
 * the last timestamp it saw.
 *
 * @module
 */

const HEADER_BYTES = 8;

/** One frame: stream 1 is stdout, 2 stderr; the payload is whole. */
export interface LogFrame {
  stream: number;
  payload: Uint8Array;
}

/** Splits a multiplexed stream into whole frames, across chunk boundaries. */
export class FrameReader {
  #buffer = new Uint8Array(0);

  /** Returns the frames completed by this chunk. */
  push(chunk: Uint8Array): LogFrame[] {
    const data = this.#buffer.length === 0
      ? chunk
      : concat(this.#buffer, chunk);
    const frames: LogFrame[] = [];
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const view = new DataView(data.buffer, data.byteOffset + offset);
      const size = view.getUint32(4);
      if (data.length - offset - HEADER_BYTES < size) break;
      const start = offset + HEADER_BYTES;
      frames.push({
        stream: data[offset],
        payload: data.subarray(start, start + size),
      });
      offset = start + size;
    }
    this.#buffer = data.slice(offset);
    return frames;
  }
}

/** Encodes one frame with its 8-byte header. */
export function encodeFrame(stream: number, payload: Uint8Array): Uint8Array {
  return encodeFrames([{ stream, payload }]);
}

/** Encodes frames with their headers into one buffer, with one copy each. */
export function encodeFrames(frames: readonly LogFrame[]): Uint8Array {
  let size = 0;
  for (const frame of frames) size += HEADER_BYTES + frame.payload.length;
  const encoded = new Uint8Array(size);
  const view = new DataView(encoded.buffer);
  let offset = 0;
  for (const frame of frames) {
    encoded[offset] = frame.stream;
    view.setUint32(offset + 4, frame.payload.length);
    encoded.set(frame.payload, offset + HEADER_BYTES);
    offset += HEADER_BYTES + frame.payload.length;
  }
  return encoded;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return joined;
}

const SPACE = 0x20;

/**
 * Splits a payload written with `timestamps: true` into its RFC 3339 time
 * and the message. The time comes back as a key that sorts in time order:
 * the fraction is padded to nine digits, as the engine trims its zeros.
 */
export function splitTimestamp(
  payload: Uint8Array,
): { key: string; message: Uint8Array } | null {
  const space = payload.indexOf(SPACE);
  if (space < 20 || space > 40) return null;
  // At most 40 bytes, read as Latin-1: cheaper per frame than a
  // TextDecoder call, and a non-ASCII byte fails the pattern either way.
  const text = String.fromCharCode(...payload.subarray(0, space));
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/
    .exec(text);
  if (match === null) return null;
  const key = `${match[1]}.${(match[2] ?? "").padEnd(9, "0")}Z`;
  return { key, message: payload.subarray(space + 1) };
}

/** Formats a timestamp key as the engine's `since` parameter (Unix seconds). */
export function sinceParameter(key: string): string {
  const seconds = Date.parse(`${key.slice(0, 19)}Z`) / 1000;
  return `${seconds}.${key.slice(20, 29)}`;
}

/**
 * Remembers, per stream, the last message time seen and how many messages
 * carried it, so that a second read skips exactly what was seen.
 *
 * Timestamps are monotonic within a stream but not across the two: the
 * engine stamps stdout and stderr in separate copiers, so a message late in
 * the log can carry an earlier time than one before it of the other stream.
 * The second read therefore starts a margin before the earliest last time
 * and filters per stream.
 */
export class LogPosition {
  readonly #streams = new Map<number, StreamPosition>();

  /** The `since` parameter for reading the rest of the log, or undefined. */
  get since(): string | undefined {
    let earliest: string | null = null;
    for (const position of this.#streams.values()) {
      if (earliest === null || position.lastKey < earliest) {
        earliest = position.lastKey;
      }
    }
    if (earliest === null) return undefined;
    const [seconds, nanos] = sinceParameter(earliest).split(".");
    return `${Number(seconds) - SINCE_MARGIN_SECONDS}.${nanos}`;
  }

  /** Starts a new read of the log. */
  startPass(): void {
    for (const position of this.#streams.values()) {
      position.passKey = null;
      position.passCount = 0;
    }
  }

  /** Returns true for a message not seen before, and records it. */
  accept(stream: number, key: string): boolean {
    const position = this.#streams.get(stream);
    if (position === undefined) {
      this.#streams.set(stream, {
        lastKey: key,
        countAtLast: 1,
        passKey: key,
        passCount: 1,
      });
      return true;
    }
    if (key === position.passKey) {
      position.passCount++;
    } else {
      position.passKey = key;
      position.passCount = 1;
    }
    if (key < position.lastKey) return false;
    if (key === position.lastKey) {
      if (position.passCount <= position.countAtLast) return false;
      position.countAtLast++;
      return true;
    }
    position.lastKey = key;
    position.countAtLast = 1;
    return true;
  }
}

/** Seconds the second read starts before the earliest last time seen. */
const SINCE_MARGIN_SECONDS = 2;

interface StreamPosition {
  lastKey: string;
  countAtLast: number;
  passKey: string | null;
  passCount: number;
}
