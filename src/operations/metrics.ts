/**
 * The daemon's Prometheus metrics. Each instance keeps its own metrics, so
 * `GET /metrics` shows only what this instance recorded, and no process
 * metrics are added.
 *
 * @module
 */
import {
  Counter,
  Gauge,
  Histogram,
  type MetricFamily,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  renderExposition,
} from "./prometheus_exposition.ts";

/** Prefix of every metric name. */
export const METRIC_PREFIX = "iam_orchestrator_";

/**
 * Upper bounds of the job duration histogram's buckets, in seconds: from one
 * second to four hours, as jobs range from quick checks to long imports.
 */
export const JOB_DURATION_BUCKETS_SECONDS: readonly number[] = [
  1,
  5,
  15,
  30,
  60,
  120,
  300,
  600,
  1800,
  3600,
  7200,
  14400,
];

/**
 * Outcome of a job run, as the job runner reports it. `Detached` is a run
 * that the daemon stopped following at shutdown while its container runs on.
 */
export type JobResult = "Completed" | "Failed" | "Detached";

/** Status class of an API response; `none` when no response arrived. */
export type StatusClass = "1xx" | "2xx" | "3xx" | "4xx" | "5xx" | "none";

/**
 * Functions read at each scrape to set a gauge, for values that another
 * part of the daemon already keeps. A function that returns null leaves the
 * gauge at its last value, as when the state store cannot be read.
 */
export interface GaugeSources {
  runningJobs?: () => number;
  registeredSchedules?: () => number;
  outboxDepth?: () => number | null;
}

/** Options of {@linkcode DaemonMetrics}. */
export interface DaemonMetricsOptions {
  /**
   * Version exported as the `version` label of `iam_orchestrator_build_info`.
   *
   * @default {"unknown"}
   */
  version?: string;
  /** Gauges read at scrape time; each one unset is set by its method. */
  gauges?: GaugeSources;
}

/** Returns the status class label of an HTTP status, or `none` for null. */
export function statusClass(status: number | null): StatusClass {
  if (status === null) return "none";
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(
      `Invalid HTTP status ${status}: expected a whole number from 100 to ` +
        `599, or null when no response arrived`,
    );
  }
  return `${Math.floor(status / 100)}xx` as StatusClass;
}

function checkCount(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Invalid ${name} ${value}: expected a finite number of 0 or more`,
    );
  }
}

/**
 * The daemon's metrics. Each method records one event; `render` returns the
 * Prometheus text exposition format for `GET /metrics`.
 */
export class DaemonMetrics {
  readonly #families: readonly MetricFamily[];
  readonly #sources: GaugeSources;
  readonly #jobsStarted: Counter<"customer">;
  readonly #jobsFinished: Counter<"customer" | "result">;
  readonly #jobDuration: Histogram<"customer" | "result">;
  readonly #runningJobs: Gauge;
  readonly #registeredSchedules: Gauge;
  readonly #skippedFires: Counter<"reason">;
  readonly #apiRequests: Counter<"endpoint" | "status_class">;
  readonly #apiRetries: Counter<"endpoint">;
  readonly #logLinesShipped: Counter;
  readonly #logBytesShipped: Counter;
  readonly #logLinesDropped: Counter;
  readonly #logBytesDropped: Counter;
  readonly #outboxDepth: Gauge;
  readonly #engineErrors: Counter;

  constructor(options: DaemonMetricsOptions = {}) {
    this.#sources = options.gauges ?? {};
    const name = (suffix: string) => `${METRIC_PREFIX}${suffix}`;

    const buildInfo = new Gauge({
      name: name("build_info"),
      help: "Always 1; the version label is the daemon's version",
      labelNames: ["version"],
    });
    buildInfo.set({ version: options.version ?? "unknown" }, 1);

    this.#jobsStarted = new Counter({
      name: name("jobs_started_total"),
      help: "Job runs started, by customer",
      labelNames: ["customer"],
    });
    this.#jobsFinished = new Counter({
      name: name("jobs_finished_total"),
      help: "Job runs ended, by customer and result (completed, failed, " +
        "detached)",
      labelNames: ["customer", "result"],
    });
    this.#jobDuration = new Histogram({
      name: name("job_duration_seconds"),
      help: "Time from the start of a job run to its final status, in seconds",
      labelNames: ["customer", "result"],
      buckets: [...JOB_DURATION_BUCKETS_SECONDS],
    });
    this.#runningJobs = new Gauge({
      name: name("running_jobs"),
      help: "Job runs going on now",
    });
    this.#registeredSchedules = new Gauge({
      name: name("registered_schedules"),
      help: "Scheduled jobs whose fire times the orchestrator keeps",
    });
    this.#skippedFires = new Counter({
      name: name("skipped_fires_total"),
      help: "Scheduled fire times that started no run, by reason",
      labelNames: ["reason"],
    });
    this.#apiRequests = new Counter({
      name: name("api_requests_total"),
      help: "Requests to the IAM API, by endpoint and response status " +
        "class (none when no response arrived)",
      labelNames: ["endpoint", "status_class"],
    });
    this.#apiRetries = new Counter({
      name: name("api_retries_total"),
      help: "Requests to the IAM API repeated after a failure, by endpoint",
      labelNames: ["endpoint"],
    });
    this.#logLinesShipped = new Counter({
      name: name("log_lines_shipped_total"),
      help: "Job log lines the IAM API accepted",
    });
    this.#logBytesShipped = new Counter({
      name: name("log_bytes_shipped_total"),
      help: "UTF-8 bytes of the job log lines the IAM API accepted",
    });
    this.#logLinesDropped = new Counter({
      name: name("log_lines_dropped_total"),
      help: "Job log lines not sent: over LogSettings:MaxJobLogBytes or " +
        "still undelivered at a close deadline",
    });
    this.#logBytesDropped = new Counter({
      name: name("log_bytes_dropped_total"),
      help: "UTF-8 bytes of the job log lines not sent",
    });
    this.#outboxDepth = new Gauge({
      name: name("outbox_depth"),
      help: "Status reports and log entries waiting in the outbox",
    });
    this.#engineErrors = new Counter({
      name: name("engine_errors_total"),
      help: "Failed calls to the container engine",
    });

    // `render` prints the families in this order.
    this.#families = [
      buildInfo,
      this.#jobsStarted,
      this.#jobsFinished,
      this.#jobDuration,
      this.#runningJobs,
      this.#registeredSchedules,
      this.#skippedFires,
      this.#apiRequests,
      this.#apiRetries,
      this.#logLinesShipped,
      this.#logBytesShipped,
      this.#logLinesDropped,
      this.#logBytesDropped,
      this.#outboxDepth,
      this.#engineErrors,
    ];
  }

  /** MIME type of `render`'s output, for the Content-Type header. */
  get contentType(): string {
    return PROMETHEUS_TEXT_CONTENT_TYPE;
  }

  /** Records the start of a job run. */
  jobStarted(customer: string): void {
    this.#jobsStarted.inc({ customer });
    this.#runningJobs.inc({});
  }

  /**
   * Records the end of a job run that lasted `seconds`, including a run the
   * daemon detached from at shutdown.
   *
   * @throws {RangeError} when `seconds` is negative or not finite
   */
  jobFinished(customer: string, result: JobResult, seconds: number): void {
    checkCount("job duration in seconds", seconds);
    const labels = { customer, result: result.toLowerCase() };
    this.#jobsFinished.inc(labels);
    this.#jobDuration.observe(labels, seconds);
    this.#runningJobs.dec({});
  }

  /** Sets the number of running jobs, as after adopting containers. */
  setRunningJobs(count: number): void {
    checkCount("running job count", count);
    this.#runningJobs.set({}, count);
  }

  /** Sets the number of schedules the orchestrator keeps. */
  setRegisteredSchedules(count: number): void {
    checkCount("schedule count", count);
    this.#registeredSchedules.set({}, count);
  }

  /** Records a fire time that started no run, such as `paused` or `overlap`. */
  fireSkipped(reason: string): void {
    this.#skippedFires.inc({ reason });
  }

  /**
   * Records one request to the IAM API. `endpoint` is the route template,
   * such as `PATCH /api/jobs/{id}/status`, never a URL with ids in it, so
   * that the number of label values stays small.
   *
   * @throws {RangeError} when `status` is not an HTTP status
   */
  apiResponse(endpoint: string, status: number | null): void {
    this.#apiRequests.inc({ endpoint, status_class: statusClass(status) });
  }

  /** Records a repeated request to the IAM API. */
  apiRetry(endpoint: string): void {
    this.#apiRetries.inc({ endpoint });
  }

  /** Adds job log lines that the IAM API accepted. */
  logShipped(lines: number, bytes: number): void {
    checkCount("shipped line count", lines);
    checkCount("shipped byte count", bytes);
    this.#logLinesShipped.inc({}, lines);
    this.#logBytesShipped.inc({}, bytes);
  }

  /** Adds job log lines that were not sent. */
  logDropped(lines: number, bytes: number): void {
    checkCount("dropped line count", lines);
    checkCount("dropped byte count", bytes);
    this.#logLinesDropped.inc({}, lines);
    this.#logBytesDropped.inc({}, bytes);
  }

  /** Sets the number of items waiting in the outbox. */
  setOutboxDepth(count: number): void {
    checkCount("outbox depth", count);
    this.#outboxDepth.set({}, count);
  }

  /** Records a failed call to the container engine. */
  engineError(): void {
    this.#engineErrors.inc({});
  }

  /**
   * Returns every metric in the Prometheus text exposition format, after
   * reading the gauge sources. A source that throws rejects the promise.
   */
  render(): Promise<string> {
    try {
      readSource(this.#sources.runningJobs, this.#runningJobs);
      readSource(this.#sources.registeredSchedules, this.#registeredSchedules);
      readSource(this.#sources.outboxDepth, this.#outboxDepth);
      return Promise.resolve(renderExposition(this.#families));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/**
 * Sets `gauge` to what `source` returns, unless there is no source or it
 * returns null.
 */
function readSource(
  source: (() => number | null) | undefined,
  gauge: Gauge,
): void {
  if (source === undefined) return;
  const value = source();
  if (value !== null) gauge.set({}, value);
}
