/**
 * Exponential backoff with full jitter: each wait is a random time between
 * zero and `min(cap, base * 2^attempt)`, which spreads the retries of many
 * clients after a shared outage.
 *
 * @module
 */

export interface BackoffOptions {
  /** @default {250} milliseconds */
  baseMs?: number;
  /** @default {10000} milliseconds */
  capMs?: number;
  /** Source of randomness in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

/** Returns the wait before retry number `attempt` (0 for the first retry). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
): number {
  const { baseMs = 250, capMs = 10_000, random = Math.random } = options;
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms` milliseconds, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
