/**
 * Incremental parser of the Docker engine's multiplexed output stream.
 *
 * A container created without a TTY sends its output on the attach and logs
 * endpoints as frames. Each frame has an 8-byte header: byte 0 is the stream
 * type, bytes 1 to 3 are zero, and bytes 4 to 7 are the payload length as a
 * big-endian unsigned 32-bit integer. The payload follows. Socket reads cut
 * frames, and even headers, at any byte.
 *
 * The stream types are those of the `stdcopy` package of the Docker engine
 * (moby): 0 stdin, 1 stdout, 2 stderr and 3 for an error of the engine
 * itself, which `stdcopy` returns as an error instead of output.
 *
 * @module
 */

/** Output stream of a container process. */
export type OutputStream = "stdout" | "stderr";

/** Stream of a frame: container output, or "system" for an engine error. */
export type FrameStream = OutputStream | "system";

/**
 * A frame's payload, or a piece of it, with the stream it belongs to.
 *
 * The demuxer returns stdout and stderr bytes as soon as they arrive, so one
 * frame of the engine may come out in several pieces. The line assembler
 * ignores frame boundaries, so this loses nothing and keeps memory bounded
 * however large the engine's frames are. A "system" frame comes out whole,
 * because it is one error message, with at most
 * {@linkcode MAX_SYSTEM_PAYLOAD_BYTES} of its payload.
 */
export interface Frame {
  stream: FrameStream;
  payload: Uint8Array;
}

/** Maximum payload kept of an engine error frame: 64 KiB. */
export const MAX_SYSTEM_PAYLOAD_BYTES = 64 * 1024;

/** The frame that was still incomplete when the stream ended. */
export interface TruncatedFrame {
  /** Stream of the frame, or null when the stream ended inside the header. */
  stream: FrameStream | null;
  /** Payload length from the header, or null when the header is incomplete. */
  expectedBytes: number | null;
  /** Bytes of that frame received (header bytes when the header is cut). */
  receivedBytes: number;
}

const HEADER_BYTES = 8;

/**
 * Splits the multiplexed stream of one container into stdout and stderr
 * payload pieces.
 *
 * Stream type 0 (stdin) is read as stdout, because the engine's API
 * documentation states that stdin frames are written on stdout. A header with
 * a stream type above 3, or with non-zero bytes 1 to 3, raises a RangeError. This usually means that the
 * container has a TTY, so its output is raw bytes without frames. After the
 * error, {@linkcode FrameDemuxer.takeRemainder} returns the bytes not yet
 * parsed so that the caller can treat the rest of the stream as raw output.
 */
export class FrameDemuxer {
  #header = new Uint8Array(HEADER_BYTES);
  #headerFilled = 0;
  #stream: FrameStream = "stdout";
  #payloadTotal = 0;
  #payloadLeft = 0;
  #inPayload = false;
  #systemParts: Uint8Array[] = [];
  #systemBytes = 0;
  #offset = 0;
  #invalid: { error: RangeError; remainder: Uint8Array } | null = null;

  /**
   * Parses a chunk read from the engine and returns the payload pieces it
   * completes, in stream order.
   *
   * When the chunk contains an invalid header after some valid payload, this
   * call returns that payload and the next call to `push` or `end` raises.
   *
   * @throws {RangeError} when the next header is invalid
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#invalid !== null) {
      this.#invalid.remainder = concat(this.#invalid.remainder, chunk);
      throw this.#invalid.error;
    }
    const frames: Frame[] = [];
    let position = 0;
    while (position < chunk.length) {
      if (this.#inPayload) {
        const take = Math.min(this.#payloadLeft, chunk.length - position);
        const payload = chunk.slice(position, position + take);
        position += take;
        this.#offset += take;
        this.#payloadLeft -= take;
        if (this.#stream !== "system") {
          frames.push({ stream: this.#stream, payload });
        } else {
          this.#keepSystemPayload(payload);
        }
        if (this.#payloadLeft === 0) {
          this.#inPayload = false;
          if (this.#stream === "system") frames.push(this.#takeSystemFrame());
        }
        continue;
      }
      const take = Math.min(
        HEADER_BYTES - this.#headerFilled,
        chunk.length - position,
      );
      this.#header.set(
        chunk.subarray(position, position + take),
        this.#headerFilled,
      );
      this.#headerFilled += take;
      position += take;
      if (this.#headerFilled < HEADER_BYTES) break;

      const error = this.#readHeader();
      if (error !== null) {
        this.#invalid = {
          error,
          remainder: concat(this.#header, chunk.subarray(position)),
        };
        this.#headerFilled = 0;
        if (frames.length === 0) throw error;
        return frames;
      }
      this.#headerFilled = 0;
      this.#offset += HEADER_BYTES;
      this.#inPayload = this.#payloadLeft > 0;
      if (!this.#inPayload && this.#stream === "system") {
        frames.push(this.#takeSystemFrame());
      }
    }
    return frames;
  }

  /**
   * Ends the stream and returns the frame that was cut off by the end, or
   * null when the stream ended on a frame boundary.
   *
   * @throws {RangeError} when an invalid header is still pending
   */
  end(): TruncatedFrame | null {
    if (this.#invalid !== null) throw this.#invalid.error;
    if (this.#inPayload) {
      return {
        stream: this.#stream,
        expectedBytes: this.#payloadTotal,
        receivedBytes: this.#payloadTotal - this.#payloadLeft,
      };
    }
    if (this.#headerFilled > 0) {
      return {
        stream: null,
        expectedBytes: null,
        receivedBytes: this.#headerFilled,
      };
    }
    return null;
  }

  /**
   * Returns the unparsed bytes from the invalid header on, including chunks
   * pushed after it, and clears them. Returns an empty array when no header
   * was invalid.
   */
  takeRemainder(): Uint8Array {
    if (this.#invalid === null) return new Uint8Array(0);
    const remainder = this.#invalid.remainder;
    this.#invalid.remainder = new Uint8Array(0);
    return remainder;
  }

  /** Reads the complete header, or returns the error that describes it. */
  #readHeader(): RangeError | null {
    const header = this.#header;
    const type = header[0];
    if (type > 3 || header[1] !== 0 || header[2] !== 0 || header[3] !== 0) {
      const hex = Array.from(
        header,
        (byte) => byte.toString(16).padStart(2, "0"),
      )
        .join(" ");
      return new RangeError(
        `Invalid frame header "${hex}" at byte ${this.#offset} of the ` +
          `container output: expected stream type 0, 1, 2 or 3 followed ` +
          `by three zero bytes. The container probably has a TTY, which makes ` +
          `its output raw, so create it with Tty set to false`,
      );
    }
    this.#stream = type === 3 ? "system" : type === 2 ? "stderr" : "stdout";
    const view = new DataView(header.buffer, header.byteOffset, HEADER_BYTES);
    this.#payloadTotal = view.getUint32(4, false);
    this.#payloadLeft = this.#payloadTotal;
    return null;
  }

  /** Keeps the start of an engine error, up to the maximum, and drops the rest. */
  #keepSystemPayload(payload: Uint8Array): void {
    const room = MAX_SYSTEM_PAYLOAD_BYTES - this.#systemBytes;
    if (room <= 0) return;
    const kept = payload.length > room ? payload.subarray(0, room) : payload;
    this.#systemParts.push(kept);
    this.#systemBytes += kept.length;
  }

  #takeSystemFrame(): Frame {
    const payload = new Uint8Array(this.#systemBytes);
    let offset = 0;
    for (const part of this.#systemParts) {
      payload.set(part, offset);
      offset += part.length;
    }
    this.#systemParts = [];
    this.#systemBytes = 0;
    return { stream: "system", payload };
  }
}

function concat(first: Uint8Array, second: Uint8Array): Uint8Array {
  const joined = new Uint8Array(first.length + second.length);
  joined.set(first, 0);
  joined.set(second, first.length);
  return joined;
}
