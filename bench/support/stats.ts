/**
 * Summary statistics and number formatting for benchmark samples.
 *
 * @module
 */

/**
 * Returns the nearest-rank percentile `p` (0 to 100) of the samples.
 *
 * @throws {RangeError} when there are no samples or `p` is outside 0 to 100
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) {
    throw new RangeError("Cannot take a percentile of no samples; pass one");
  }
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(`Percentile "${p}" is invalid; pass 0 to 100`);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(p / 100 * sorted.length));
  return sorted[rank - 1];
}

/** Returns the median (50th percentile) of the samples. */
export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) {
    throw new RangeError("Cannot take the median of no samples; pass one");
  }
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Returns the largest sample. */
export function maximum(samples: readonly number[]): number {
  return samples.reduce((max, value) => Math.max(max, value), -Infinity);
}

/** Formats milliseconds with one decimal, e.g. `12.3 ms`. */
export function formatMs(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

/** Formats bytes as MiB with one decimal. */
export function formatMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Formats a ratio with two decimals, e.g. `1.08x`. */
export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}x`;
}

/** Formats a rate with the unit, without decimals above 100. */
export function formatRate(perSecond: number, unit: string): string {
  const digits = perSecond >= 100 ? 0 : 1;
  return `${perSecond.toFixed(digits)} ${unit}/s`;
}
