/**
 * Counters, gauges and histograms held in memory and rendered in the
 * Prometheus text exposition format, version 0.0.4. This covers what the
 * daemon exports and nothing more: no summaries, exemplars, timestamps or
 * OpenMetrics output.
 *
 * The output matches what prom-client 15.1.3 printed for the same metrics,
 * with two exceptions. NaN is spelled `NaN`, where prom-client printed `Nan`.
 * Two label sets whose values contain `,` or `:` never share a series, where
 * prom-client could merge them.
 *
 * @module
 */

/** Content-Type of {@linkcode renderExposition}'s output. */
export const PROMETHEUS_TEXT_CONTENT_TYPE =
  "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Label values of one series, keyed by label name. */
export type LabelValues<L extends string> = Readonly<Record<L, string>>;

/** A metric that can print its HELP, TYPE and sample lines. */
export interface MetricFamily {
  /** Metric name, without the `_bucket`, `_sum` or `_count` suffixes. */
  readonly name: string;
  /**
   * Returns the HELP line, the TYPE line and one line per sample, joined by
   * newlines, with no newline at the end.
   */
  render(): string;
}

/** Options of {@linkcode Counter} and {@linkcode Gauge}. */
export interface MetricOptions<L extends string> {
  /** Metric name, such as `app_requests_total`. */
  name: string;
  /** Text of the HELP line. */
  help: string;
  /**
   * Names of the labels, in the order they are printed.
   *
   * @default {[]}
   */
  labelNames?: readonly L[];
}

/** Options of {@linkcode Histogram}. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds of the buckets, finite and strictly increasing. */
  buckets: readonly number[];
}

/**
 * Formats a sample value: `+Inf`, `-Inf`, `NaN`, or the shortest decimal
 * that JavaScript prints, such as `3`, `0.25` or `1e+21`.
 */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** Escapes a HELP text: backslash and line feed. */
export function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return escapeHelp(value).replaceAll('"', '\\"');
}

/**
 * Joins the families in the given order into one exposition, with a blank
 * line between families and a newline at the end.
 */
export function renderExposition(families: readonly MetricFamily[]): string {
  return `${families.map((family) => family.render()).join("\n\n")}\n`;
}

function checkMetricName(name: string): void {
  if (!METRIC_NAME.test(name)) {
    throw new TypeError(
      `Invalid metric name "${name}": expected letters, digits, "_" and ":", ` +
        `not starting with a digit`,
    );
  }
}

function checkLabelNames(
  metric: string,
  labelNames: readonly string[],
  reserved: readonly string[],
): void {
  const seen = new Set<string>();
  for (const label of labelNames) {
    if (!LABEL_NAME.test(label) || label.startsWith("__")) {
      throw new TypeError(
        `Invalid label name "${label}" of metric "${metric}": expected ` +
          `letters, digits and "_", not starting with a digit or "__"`,
      );
    }
    if (reserved.includes(label)) {
      throw new TypeError(
        `Invalid label name "${label}" of metric "${metric}": the name is ` +
          `reserved for this metric type, so choose another one`,
      );
    }
    if (seen.has(label)) {
      throw new TypeError(
        `Invalid label names of metric "${metric}": "${label}" appears ` +
          `twice, so give each label once`,
      );
    }
    seen.add(label);
  }
}

/**
 * The series of one metric, keyed by their label values in label name order,
 * kept in the order each label set was first seen.
 */
class SeriesMap<L extends string, V> {
  readonly #metric: string;
  readonly #labelNames: readonly L[];
  readonly #series = new Map<string, { values: string[]; state: V }>();

  constructor(metric: string, labelNames: readonly L[]) {
    this.#metric = metric;
    this.#labelNames = labelNames;
  }

  /** Returns the series state for these labels, made by `create` if new. */
  get(labels: LabelValues<L>, create: () => V): V {
    const values = this.#valuesOf(labels);
    // JSON keeps label values apart even when they contain separators.
    const key = JSON.stringify(values);
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { values, state: create() };
      this.#series.set(key, entry);
    }
    return entry.state;
  }

  /** Calls `fn` on each series with its formatted label pairs. */
  forEach(fn: (pairs: string[], state: V) => void): void {
    for (const { values, state } of this.#series.values()) {
      const pairs = values.map((value, index) =>
        `${this.#labelNames[index]}="${escapeLabelValue(value)}"`
      );
      fn(pairs, state);
    }
  }

  #valuesOf(labels: LabelValues<L>): string[] {
    const names = Object.keys(labels);
    const extra = names.find((name) => !this.#labelNames.includes(name as L));
    if (extra !== undefined || names.length !== this.#labelNames.length) {
      throw new TypeError(
        `Invalid labels {${names.join(", ")}} for metric "${this.#metric}": ` +
          `expected exactly {${this.#labelNames.join(", ")}}`,
      );
    }
    return this.#labelNames.map((name) => {
      const value = labels[name];
      if (typeof value !== "string") {
        throw new TypeError(
          `Invalid value ${String(value)} of label "${name}" for metric ` +
            `"${this.#metric}": expected a string`,
        );
      }
      return value;
    });
  }
}

function header(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];
}

function sampleLine(name: string, pairs: string[], value: number): string {
  const labels = pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
  return `${name}${labels} ${formatSampleValue(value)}`;
}

/** Shared base of counters and gauges: one number per series. */
abstract class ScalarMetric<L extends string> implements MetricFamily {
  readonly name: string;
  readonly #help: string;
  readonly #type: string;
  readonly #series: SeriesMap<L, { value: number }>;

  constructor(type: string, options: MetricOptions<L>) {
    checkMetricName(options.name);
    const labelNames = options.labelNames ?? [];
    checkLabelNames(options.name, labelNames, []);
    this.name = options.name;
    this.#help = options.help;
    this.#type = type;
    this.#series = new SeriesMap(options.name, labelNames);
    // A metric without labels has its one series from the start, at 0.
    if (labelNames.length === 0) this.add({} as LabelValues<L>, 0);
  }

  protected add(labels: LabelValues<L>, amount: number): void {
    this.#checkNumber(amount);
    this.#series.get(labels, () => ({ value: 0 })).value += amount;
  }

  protected replace(labels: LabelValues<L>, value: number): void {
    this.#checkNumber(value);
    this.#series.get(labels, () => ({ value: 0 })).value = value;
  }

  // Guards JavaScript callers, such as a gauge source that returns
  // undefined, which would otherwise print a sample Prometheus cannot parse.
  #checkNumber(value: unknown): void {
    if (typeof value !== "number") {
      throw new TypeError(
        `Invalid value ${String(value)} for ${this.#type} "${this.name}": ` +
          `expected a number`,
      );
    }
  }

  render(): string {
    const lines = header(this.name, this.#help, this.#type);
    this.#series.forEach((pairs, series) => {
      lines.push(sampleLine(this.name, pairs, series.value));
    });
    return lines.join("\n");
  }
}

/** A counter: a sum per label set that only goes up. */
export class Counter<L extends string = never> extends ScalarMetric<L> {
  /**
   * Creates a counter. A counter without labels starts with one series at 0;
   * a labelled one prints no series until its first `inc`.
   *
   * @throws {TypeError} on an invalid metric name or label name
   */
  constructor(options: MetricOptions<L>) {
    super("counter", options);
  }

  /**
   * Adds `amount` to the series with these labels.
   *
   * @throws {RangeError} when `amount` is negative or not finite
   * @throws {TypeError} when the label names differ from the counter's
   */
  inc(labels: LabelValues<L>, amount = 1): void {
    if (!Number.isFinite(amount) || amount < 0) {
      throw new RangeError(
        `Invalid increment ${amount} of counter "${this.name}": expected a ` +
          `finite number of 0 or more`,
      );
    }
    this.add(labels, amount);
  }
}

/**
 * A gauge: a number per label set that goes up and down. Any number is
 * accepted, including NaN and infinities, which print as `NaN`, `+Inf` and
 * `-Inf`.
 */
export class Gauge<L extends string = never> extends ScalarMetric<L> {
  /**
   * Creates a gauge. A gauge without labels starts with one series at 0;
   * a labelled one prints no series until it is first changed.
   *
   * @throws {TypeError} on an invalid metric name or label name
   */
  constructor(options: MetricOptions<L>) {
    super("gauge", options);
  }

  /**
   * Sets the series with these labels to `value`.
   *
   * @throws {TypeError} when `value` is not a number or the label names
   * differ from the gauge's
   */
  set(labels: LabelValues<L>, value: number): void {
    this.replace(labels, value);
  }

  /**
   * Adds `amount` to the series with these labels.
   *
   * @throws {TypeError} when the label names differ from the gauge's
   */
  inc(labels: LabelValues<L>, amount = 1): void {
    this.add(labels, amount);
  }

  /**
   * Subtracts `amount` from the series with these labels.
   *
   * @throws {TypeError} when the label names differ from the gauge's
   */
  dec(labels: LabelValues<L>, amount = 1): void {
    this.add(labels, -amount);
  }
}

interface HistogramSeries {
  /** Observations per bucket, not cumulative. Index i counts `buckets[i]`. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A histogram: per label set, the number of observations at or below each
 * bucket's upper bound, their sum and their count.
 */
export class Histogram<L extends string = never> implements MetricFamily {
  readonly name: string;
  readonly #help: string;
  readonly #buckets: readonly number[];
  readonly #series: SeriesMap<L, HistogramSeries>;

  /**
   * Creates a histogram. One without labels starts with one series of zero
   * counts; a labelled one prints no series until its first `observe`.
   *
   * @throws {TypeError} on an invalid metric name or label name, or a label
   * named `le`
   * @throws {RangeError} when the buckets are empty, not finite or not
   * strictly increasing
   */
  constructor(options: HistogramOptions<L>) {
    checkMetricName(options.name);
    const labelNames = options.labelNames ?? [];
    checkLabelNames(options.name, labelNames, ["le"]);
    const buckets = [...options.buckets];
    const sorted = buckets.every((bound, index) =>
      Number.isFinite(bound) && (index === 0 || buckets[index - 1] < bound)
    );
    if (buckets.length === 0 || !sorted) {
      throw new RangeError(
        `Invalid buckets [${buckets.join(", ")}] of histogram ` +
          `"${options.name}": expected finite upper bounds in strictly ` +
          `increasing order; +Inf is added on its own`,
      );
    }
    this.name = options.name;
    this.#help = options.help;
    this.#buckets = buckets;
    this.#series = new SeriesMap(options.name, labelNames);
    if (labelNames.length === 0) this.#seriesOf({} as LabelValues<L>);
  }

  /**
   * Adds one observation to the series with these labels. The observation
   * counts in the first bucket whose upper bound is at or above `value`, so
   * a value equal to a bound counts in that bound's bucket.
   *
   * @throws {RangeError} when `value` is not finite
   * @throws {TypeError} when the label names differ from the histogram's
   */
  observe(labels: LabelValues<L>, value: number): void {
    if (!Number.isFinite(value)) {
      throw new RangeError(
        `Invalid observation ${value} of histogram "${this.name}": expected ` +
          `a finite number`,
      );
    }
    const series = this.#seriesOf(labels);
    const index = this.#buckets.findIndex((bound) => value <= bound);
    // A value above every bound counts only in the +Inf bucket, which is
    // the total count.
    if (index !== -1) series.counts[index] += 1;
    series.sum += value;
    series.count += 1;
  }

  render(): string {
    const lines = header(this.name, this.#help, "histogram");
    this.#series.forEach((pairs, series) => {
      let cumulative = 0;
      this.#buckets.forEach((bound, index) => {
        cumulative += series.counts[index];
        lines.push(
          this.#bucketLine(formatSampleValue(bound), pairs, cumulative),
        );
      });
      lines.push(this.#bucketLine("+Inf", pairs, series.count));
      lines.push(sampleLine(`${this.name}_sum`, pairs, series.sum));
      lines.push(sampleLine(`${this.name}_count`, pairs, series.count));
    });
    return lines.join("\n");
  }

  #seriesOf(labels: LabelValues<L>): HistogramSeries {
    return this.#series.get(labels, () => ({
      counts: this.#buckets.map(() => 0),
      sum: 0,
      count: 0,
    }));
  }

  #bucketLine(bound: string, pairs: string[], value: number): string {
    // `le` comes first because prom-client 15.1.3 printed it there, so the
    // output stays the same byte for byte.
    return sampleLine(
      `${this.name}_bucket`,
      [`le="${bound}"`, ...pairs],
      value,
    );
  }
}
