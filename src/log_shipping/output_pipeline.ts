/**
 * The path of a container's output from the engine's socket to the IAM API:
 * frame demuxer, line assembler per stream, secret masker, log shipper.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { LogLevel } from "../iam_api/job.ts";
import { FrameDemuxer, type OutputStream } from "./frame_demuxer.ts";
import { DEFAULT_MAX_LINE_BYTES, LineAssembler } from "./line_assembler.ts";
import type { LogShipper } from "./log_shipper.ts";
import type { SecretMasker } from "./secret_masker.ts";

/** Options of {@linkcode createOutputPipeline}. */
export interface OutputPipelineOptions {
  /** Shipper of the job. The caller closes it after `end`. */
  shipper: Pick<LogShipper, "append" | "appendOrchestrator">;
  /** Masker built from the job's secrets. */
  masker: Pick<SecretMasker, "mask">;
  /**
   * Maximum UTF-8 length of a line before masking. Longer lines are cut.
   *
   * @default {64 * 1024}
   */
  maxLineBytes?: number;
  /**
   * Called with each masked line after it was queued for shipping, for
   * example to echo it in the daemon's own log.
   */
  onLine?: (line: string, stream: OutputStream) => void;
}

/** Input side of an output pipeline. */
export interface OutputPipeline {
  /** Processes a chunk read from the engine's attach or logs stream. */
  push(chunk: Uint8Array): void;
  /** Ships the last incomplete lines. Later calls do nothing. */
  end(): void;
}

const LEVEL_OF_STREAM: Record<OutputStream, LogLevel> = {
  stdout: "Info",
  stderr: "Error",
};

const logger = getLogger(["iam-orchestrator", "log-shipping"]);

/**
 * Creates the pipeline that turns the multiplexed output of one container
 * into masked log lines: stdout as level Info and stderr as level Error, in
 * the order their lines end.
 *
 * An error frame of the engine (stream type 3) becomes an Error entry of
 * source orchestrator. When the stream turns out not to be multiplexed (a
 * container with a TTY), the pipeline adds a Warning entry of source
 * orchestrator and ships the rest of the bytes as stdout. When it ends inside a frame, a Warning entry states
 * how many bytes are missing.
 *
 * NOTE: a line longer than `maxLineBytes` is cut before it is masked, so a
 * secret that straddles the cut is not masked, and its two parts appear in
 * two lines.
 *
 * @throws {RangeError} when `maxLineBytes` is invalid
 */
export function createOutputPipeline(
  options: OutputPipelineOptions,
): OutputPipeline {
  const { shipper, masker, onLine } = options;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const demuxer = new FrameDemuxer();
  const assemblers: Record<OutputStream, LineAssembler> = {
    stdout: new LineAssembler({ maxLineBytes }),
    stderr: new LineAssembler({ maxLineBytes }),
  };
  let raw = false;
  let ended = false;

  function ship(lines: string[], stream: OutputStream): void {
    for (const line of lines) {
      const masked = masker.mask(line);
      shipper.append(masked, LEVEL_OF_STREAM[stream]);
      onLine?.(masked, stream);
    }
  }

  function reportEngineError(payload: Uint8Array): void {
    const message = masker.mask(new TextDecoder().decode(payload).trimEnd());
    logger.warn("Docker engine error in the container output: {message}", {
      message,
    });
    shipper.appendOrchestrator(
      `The Docker engine reported an error in the output stream: ${message}`,
      "Error",
    );
  }

  function switchToRaw(error: RangeError): void {
    raw = true;
    logger.warn(
      "Container output is not multiplexed, so the rest is shipped as " +
        "stdout: " +
        "{error}",
      { error },
    );
    shipper.appendOrchestrator(
      `${error.message}. The rest of the output is shipped as stdout`,
      "Warning",
    );
    ship(assemblers.stdout.push(demuxer.takeRemainder()), "stdout");
  }

  function push(chunk: Uint8Array): void {
    if (ended) {
      throw new Error(
        "Cannot push container output after end: the pipeline is finished",
      );
    }
    if (raw) {
      ship(assemblers.stdout.push(chunk), "stdout");
      return;
    }
    let frames;
    try {
      frames = demuxer.push(chunk);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      switchToRaw(error);
      return;
    }
    for (const frame of frames) {
      if (frame.stream === "system") {
        reportEngineError(frame.payload);
      } else {
        ship(assemblers[frame.stream].push(frame.payload), frame.stream);
      }
    }
  }

  function end(): void {
    if (ended) return;
    ended = true;
    let truncated = null;
    if (!raw) {
      try {
        truncated = demuxer.end();
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        switchToRaw(error);
      }
    }
    ship(assemblers.stdout.flush(), "stdout");
    ship(assemblers.stderr.flush(), "stderr");
    if (truncated !== null) {
      const expected = truncated.expectedBytes === null
        ? "a frame header of 8 bytes"
        : `a payload of ${truncated.expectedBytes} bytes`;
      shipper.appendOrchestrator(
        `Container output ended after ${truncated.receivedBytes} bytes of ` +
          `${expected}, so the rest of that output is missing`,
        "Warning",
      );
    }
  }

  return { push, end };
}
