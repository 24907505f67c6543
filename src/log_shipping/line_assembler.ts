/**
 * Reassembly of text lines from the payload bytes of one output stream.
 *
 * @module
 */

/** Default maximum UTF-8 length of a line: 64 KiB. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Options of {@linkcode LineAssembler}. */
export interface LineAssemblerOptions {
  /**
   * Maximum UTF-8 length of a line in bytes. A longer line is cut into pieces
   * of at most this size, each marked with {@linkcode lineCutMarker}.
   *
   * @default {64 * 1024}
   */
  maxLineBytes?: number;
}

/** Returns the suffix appended to each piece of a line that was cut. */
export function lineCutMarker(maxLineBytes: number): string {
  return ` [line cut at ${maxLineBytes} bytes, continued on the next line]`;
}

/**
 * Builds lines from the payload bytes of one stream (stdout or stderr).
 *
 * Payload boundaries carry no meaning: the engine cuts long lines into several
 * frames and socket reads cut frames anywhere. Bytes are split at "\n" before
 * they are decoded. This is safe because the bytes 0x0A and 0x0D never occur
 * inside a multi-byte UTF-8 sequence, and it keeps a character whose bytes
 * arrive in two reads whole. Invalid UTF-8 is decoded as U+FFFD.
 *
 * A "\r" inside a line starts the line over, as it does on a terminal, and
 * only the text after the last "\r" is kept. So "10%\r20%\r30%\n" gives the
 * line "30%", a trailing "\r" of a CRLF line ending is dropped, and a progress
 * bar that redraws itself without "\n" for hours uses no more memory than its
 * current state. A terminal would show the remains of a longer earlier state
 * where the new text is shorter, but the assembler drops them.
 */
export class LineAssembler {
  #maxLineBytes: number;
  #marker: string;
  #decoder = new TextDecoder();
  #parts: Uint8Array[] = [];
  #length = 0;
  #afterCarriageReturn = false;

  /** @throws {RangeError} when `maxLineBytes` is not an integer of 4 or more */
  constructor(options: LineAssemblerOptions = {}) {
    const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    // Four bytes fit any UTF-8 character, so a cut always makes progress.
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 4) {
      throw new RangeError(
        `Invalid maxLineBytes "${maxLineBytes}": expected an integer of 4 ` +
          `or more`,
      );
    }
    this.#maxLineBytes = maxLineBytes;
    this.#marker = lineCutMarker(maxLineBytes);
  }

  /** Adds payload bytes and returns the lines they complete, in order. */
  push(bytes: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    while (start <= bytes.length) {
      const lineFeed = bytes.indexOf(LINE_FEED, start);
      const end = lineFeed === -1 ? bytes.length : lineFeed;
      this.#addText(bytes.subarray(start, end), lines);
      if (lineFeed === -1) break;
      lines.push(this.#decoder.decode(this.#takeLine()));
      start = lineFeed + 1;
    }
    return lines;
  }

  /**
   * Returns the last line when the stream ended without "\n", as a list of
   * zero or one line, and resets the assembler.
   */
  flush(): string[] {
    const lines = this.#length > 0
      ? [this.#decoder.decode(this.#takeLine())]
      : [];
    this.#parts = [];
    this.#length = 0;
    this.#afterCarriageReturn = false;
    return lines;
  }

  /** Adds bytes that contain no "\n", applying "\r" and the length limit. */
  #addText(text: Uint8Array, lines: string[]): void {
    let start = 0;
    while (start < text.length) {
      const carriageReturn = text.indexOf(CARRIAGE_RETURN, start);
      const end = carriageReturn === -1 ? text.length : carriageReturn;
      if (end > start) {
        if (this.#afterCarriageReturn) {
          this.#parts = [];
          this.#length = 0;
          this.#afterCarriageReturn = false;
        }
        this.#parts.push(text.slice(start, end));
        this.#length += end - start;
        if (this.#length > this.#maxLineBytes) this.#cut(lines);
      }
      if (carriageReturn === -1) break;
      this.#afterCarriageReturn = true;
      start = carriageReturn + 1;
    }
  }

  /** Emits full-size pieces of the current line until the rest fits. */
  #cut(lines: string[]): void {
    let line = this.#takeLine();
    while (line.length > this.#maxLineBytes) {
      const cut = characterBoundary(line, this.#maxLineBytes);
      lines.push(this.#decoder.decode(line.subarray(0, cut)) + this.#marker);
      line = line.subarray(cut);
    }
    this.#parts = [line];
    this.#length = line.length;
  }

  /** Returns the bytes of the current line and starts a new line. */
  #takeLine(): Uint8Array {
    const parts = this.#parts;
    let line: Uint8Array;
    if (parts.length === 1) {
      line = parts[0];
    } else {
      line = new Uint8Array(this.#length);
      let offset = 0;
      for (const part of parts) {
        line.set(part, offset);
        offset += part.length;
      }
    }
    this.#parts = [];
    this.#length = 0;
    this.#afterCarriageReturn = false;
    return line;
  }
}

/**
 * Returns the largest index of at most `limit` where a UTF-8 character starts,
 * so that cutting there splits no character. Falls back to `limit` when the
 * bytes before it are not valid UTF-8.
 */
function characterBoundary(bytes: Uint8Array, limit: number): number {
  for (let index = limit; index > limit - 4 && index > 0; index--) {
    // Continuation bytes have the form 10xxxxxx.
    if ((bytes[index] & 0xc0) !== 0x80) return index;
  }
  return limit;
}
