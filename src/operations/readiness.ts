/**
 * Readiness of the daemon for `GET /readyz`: it is ready while its last
 * successful poll of the IAM API and its last successful check of the
 * container engine are both recent.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ExecutionBackend } from "../runtime/execution_backend.ts";

/** Seconds added to three polling intervals to form the readiness window. */
export const READINESS_SLACK_SECONDS = 30;

/** Readiness at one moment, with the reason when not ready. */
export interface ReadinessState {
  ready: boolean;
  /** Reason the daemon is not ready, or null when it is ready. */
  reason: string | null;
}

/** Options of {@linkcode Readiness}. */
export interface ReadinessOptions {
  /**
   * Current time in milliseconds since the epoch.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * Returns the readiness window in milliseconds for a polling interval:
 * three intervals plus 30 s. The daemon stretches the wait between polls
 * while the API fails, so one or two slow or failed polls do not make it
 * unready, but a minute or more without a successful poll does.
 *
 * @throws {RangeError} when the interval is not a positive number
 */
export function readinessWindowMs(pollingIntervalSeconds: number): number {
  if (!Number.isFinite(pollingIntervalSeconds) || pollingIntervalSeconds <= 0) {
    throw new RangeError(
      `Invalid polling interval ${pollingIntervalSeconds}: expected a ` +
        `positive number of seconds`,
    );
  }
  return (3 * pollingIntervalSeconds + READINESS_SLACK_SECONDS) * 1000;
}

interface Probe {
  label: string;
  lastSuccess: number | null;
  lastFailure: string | null;
}

/**
 * Tracks the outcome of polls and engine checks. The daemon is ready when
 * both last succeeded within `windowMs` of `check`'s time and it is not
 * shutting down.
 */
export class Readiness {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #poll: Probe = {
    label: "poll of the IAM API",
    lastSuccess: null,
    lastFailure: null,
  };
  readonly #engine: Probe = {
    label: "check of the container engine",
    lastSuccess: null,
    lastFailure: null,
  };
  #stopping = false;

  /**
   * @param windowMs maximum age in milliseconds of the last success of each
   *   probe; see {@linkcode readinessWindowMs}
   * @throws {RangeError} when `windowMs` is not a positive number
   */
  constructor(windowMs: number, options: ReadinessOptions = {}) {
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(
        `Invalid readiness window ${windowMs}: expected a positive number ` +
          `of milliseconds`,
      );
    }
    this.#windowMs = windowMs;
    this.#now = options.now ?? Date.now;
  }

  /** Records a successful poll for pending jobs. */
  pollSucceeded(): void {
    this.#poll.lastSuccess = this.#now();
    this.#poll.lastFailure = null;
  }

  /** Records a failed poll and why it failed. */
  pollFailed(reason: string): void {
    this.#poll.lastFailure = reason;
  }

  /** Records a successful call to the container engine. */
  engineSucceeded(): void {
    this.#engine.lastSuccess = this.#now();
    this.#engine.lastFailure = null;
  }

  /** Records a failed call to the container engine and why it failed. */
  engineFailed(reason: string): void {
    this.#engine.lastFailure = reason;
  }

  /**
   * True unless the last engine check failed, so the daemon takes no jobs
   * it could not start.
   */
  get engineAvailable(): boolean {
    return this.#engine.lastFailure === null;
  }

  /** Makes the daemon unready for good, as at the start of a shutdown. */
  shuttingDown(): void {
    this.#stopping = true;
  }

  /** Returns the readiness at `now`, in milliseconds since the epoch. */
  check(now: number = this.#now()): ReadinessState {
    if (this.#stopping) {
      return { ready: false, reason: "The orchestrator is shutting down" };
    }
    const reasons = [this.#poll, this.#engine]
      .map((probe) => this.#problem(probe, now))
      .filter((reason): reason is string => reason !== null);
    return reasons.length === 0
      ? { ready: true, reason: null }
      : { ready: false, reason: reasons.join("; ") };
  }

  #problem(probe: Probe, now: number): string | null {
    const failure = probe.lastFailure === null
      ? ""
      : ` (last failure: ${probe.lastFailure})`;
    if (probe.lastSuccess === null) {
      return `No successful ${probe.label} yet${failure}`;
    }
    const ageMs = now - probe.lastSuccess;
    if (ageMs <= this.#windowMs) return null;
    return `Last successful ${probe.label} was ${formatSeconds(ageMs)} s ` +
      `ago, more than the readiness window of ` +
      `${formatSeconds(this.#windowMs)} s${failure}`;
  }
}

function formatSeconds(ms: number): string {
  return (ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1);
}

/** Options of {@linkcode startEngineChecks}. */
export interface EngineChecksOptions {
  /** Time between two checks in milliseconds. */
  intervalMs: number;
  /** Called after each failed check, as for an engine error metric. */
  onFailure?: (error: Error) => void;
}

const logger = getLogger(["iam-orchestrator", "readiness"]);

/**
 * Checks the container engine with `backend.describe()` at once and then
 * every `intervalMs`, recording each outcome in `readiness`. The daemon
 * itself checks the engine only at boot, so without these checks readiness
 * would expire one window after the start.
 *
 * @returns a function that stops the checks and resolves once a check in
 *   progress has ended
 */
export function startEngineChecks(
  backend: Pick<ExecutionBackend, "describe">,
  readiness: Readiness,
  options: EngineChecksOptions,
): () => Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let failures = 0;
  let current: Promise<void> = Promise.resolve();
  const check = async () => {
    try {
      await backend.describe();
      if (failures > 0) {
        logger.info(
          "Container engine responds again after {failures} " +
            "failed checks",
          { failures },
        );
      }
      failures = 0;
      readiness.engineSucceeded();
    } catch (error) {
      failures++;
      const message = (error as Error).message;
      readiness.engineFailed(message);
      // One line on the first failure, then one every tenth.
      if (failures === 1 || failures % 10 === 0) {
        logger.warn(
          "Container engine check failed ({failures} in a row): " +
            "{error}",
          { failures, error: message },
        );
      }
      options.onFailure?.(error as Error);
    }
    if (!stopped) {
      timer = setTimeout(() => {
        current = check();
      }, options.intervalMs);
    }
  };
  current = check();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await current;
  };
}
