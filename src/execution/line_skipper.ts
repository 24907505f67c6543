/**
 * Skips the output lines that were already delivered when a container's
 * log is read again from its start: after a restart of the daemon, or after
 * the engine went away and came back.
 *
 * @module
 */
import type { LogLevel } from "../iam_api/job.ts";
import type { LogShipper } from "../log_shipping/log_shipper.ts";

/** Lines counted per stream. */
export interface LineCounts {
  stdout: number;
  stderr: number;
}

/**
 * Stands in for the shipper in the output pipeline: drops the first
 * `skip.stdout` stdout lines and `skip.stderr` stderr lines, passes the rest
 * on, and counts every line seen. Reading a container's log again yields the
 * same lines in the same order per stream, so the counts line up.
 */
export class LineSkipper {
  readonly #shipper: Pick<LogShipper, "append" | "appendOrchestrator">;
  readonly #skip: LineCounts;
  readonly #seen: LineCounts = { stdout: 0, stderr: 0 };

  constructor(
    shipper: Pick<LogShipper, "append" | "appendOrchestrator">,
    skip: LineCounts,
  ) {
    this.#shipper = shipper;
    this.#skip = { ...skip };
  }

  /** Lines seen per stream, skipped ones included. */
  get seen(): LineCounts {
    return { ...this.#seen };
  }

  append(line: string, level: LogLevel): void {
    // The pipeline maps stdout to Info and stderr to Error.
    const stream = level === "Error" ? "stderr" : "stdout";
    this.#seen[stream]++;
    if (this.#seen[stream] <= this.#skip[stream]) return;
    this.#shipper.append(line, level);
  }

  appendOrchestrator(message: string, level: LogLevel): void {
    this.#shipper.appendOrchestrator(message, level);
  }
}
