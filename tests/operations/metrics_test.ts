import assert from "node:assert/strict";
import { DaemonMetrics, statusClass } from "../../src/operations/metrics.ts";
import {
  parsePrometheusText,
  type Sample,
  sampleValue,
} from "./prometheus_text.ts";

async function samplesOf(metrics: DaemonMetrics): Promise<Sample[]> {
  return parsePrometheusText(await metrics.render());
}

Deno.test("parsePrometheusText reads labels with escapes", () => {
  const samples = parsePrometheusText(
    '# HELP x_total help\nx_total{a="b\\"c",d="e\\\\f"} 3\ny 1.5 1700000000\n',
  );
  assert.deepEqual(samples, [
    { name: "x_total", labels: { a: 'b"c', d: "e\\f" }, value: 3 },
    { name: "y", labels: {}, value: 1.5 },
  ]);
});

Deno.test("parsePrometheusText rejects a malformed line", () => {
  assert.throws(() => parsePrometheusText("x_total{a=b} 1"), SyntaxError);
});

Deno.test("DaemonMetrics renders build info with the version", async () => {
  const samples = await samplesOf(new DaemonMetrics({ version: "1.2.3" }));
  assert.equal(
    sampleValue(samples, "iam_orchestrator_build_info", { version: "1.2.3" }),
    1,
  );
});

Deno.test("DaemonMetrics counts jobs and their duration", async () => {
  const metrics = new DaemonMetrics();
  metrics.jobStarted("alpha");
  metrics.jobStarted("alpha");
  metrics.jobStarted("beta");
  let samples = await samplesOf(metrics);
  assert.equal(
    sampleValue(samples, "iam_orchestrator_jobs_started_total", {
      customer: "alpha",
    }),
    2,
  );
  assert.equal(sampleValue(samples, "iam_orchestrator_running_jobs"), 3);

  metrics.jobFinished("alpha", "Completed", 12);
  metrics.jobFinished("beta", "Failed", 0.5);
  samples = await samplesOf(metrics);
  assert.equal(sampleValue(samples, "iam_orchestrator_running_jobs"), 1);
  assert.equal(
    sampleValue(samples, "iam_orchestrator_jobs_finished_total", {
      customer: "alpha",
      result: "completed",
    }),
    1,
  );
  assert.equal(
    sampleValue(samples, "iam_orchestrator_jobs_finished_total", {
      customer: "beta",
      result: "failed",
    }),
    1,
  );
  const alpha = { customer: "alpha", result: "completed" };
  assert.equal(
    sampleValue(samples, "iam_orchestrator_job_duration_seconds_sum", alpha),
    12,
  );
  assert.equal(
    sampleValue(samples, "iam_orchestrator_job_duration_seconds_bucket", {
      ...alpha,
      le: "5",
    }),
    0,
  );
  assert.equal(
    sampleValue(samples, "iam_orchestrator_job_duration_seconds_bucket", {
      ...alpha,
      le: "15",
    }),
    1,
  );
});

Deno.test("DaemonMetrics rejects a negative duration", () => {
  const metrics = new DaemonMetrics();
  assert.throws(() => metrics.jobFinished("alpha", "Failed", -1), RangeError);
});

Deno.test("DaemonMetrics counts API responses by status class", async () => {
  const metrics = new DaemonMetrics();
  const endpoint = "GET /api/jobs/pending";
  metrics.apiResponse(endpoint, 200);
  metrics.apiResponse(endpoint, 204);
  metrics.apiResponse(endpoint, 404);
  metrics.apiResponse(endpoint, 503);
  metrics.apiResponse(endpoint, null);
  metrics.apiRetry(endpoint);
  const samples = await samplesOf(metrics);
  const count = (statusClass: string) =>
    sampleValue(samples, "iam_orchestrator_api_requests_total", {
      endpoint,
      status_class: statusClass,
    });
  assert.equal(count("2xx"), 2);
  assert.equal(count("4xx"), 1);
  assert.equal(count("5xx"), 1);
  assert.equal(count("none"), 1);
  assert.equal(
    sampleValue(samples, "iam_orchestrator_api_retries_total", { endpoint }),
    1,
  );
});

Deno.test("statusClass rejects a status out of range", () => {
  assert.throws(() => statusClass(600), RangeError);
  assert.throws(() => statusClass(99), RangeError);
  assert.equal(statusClass(302), "3xx");
});

Deno.test("DaemonMetrics counts log lines, fires and engine errors", async () => {
  const metrics = new DaemonMetrics();
  metrics.logShipped(3, 120);
  metrics.logShipped(1, 8);
  metrics.logDropped(2, 64);
  metrics.fireSkipped("overlap");
  metrics.fireSkipped("overlap");
  metrics.fireSkipped("paused");
  metrics.engineError();
  metrics.setRegisteredSchedules(4);
  metrics.setOutboxDepth(7);
  const samples = await samplesOf(metrics);
  const value = (name: string, labels: Record<string, string> = {}) =>
    sampleValue(samples, `iam_orchestrator_${name}`, labels);
  assert.equal(value("log_lines_shipped_total"), 4);
  assert.equal(value("log_bytes_shipped_total"), 128);
  assert.equal(value("log_lines_dropped_total"), 2);
  assert.equal(value("log_bytes_dropped_total"), 64);
  assert.equal(value("skipped_fires_total", { reason: "overlap" }), 2);
  assert.equal(value("skipped_fires_total", { reason: "paused" }), 1);
  assert.equal(value("engine_errors_total"), 1);
  assert.equal(value("registered_schedules"), 4);
  assert.equal(value("outbox_depth"), 7);
});

Deno.test("DaemonMetrics reads gauge sources at render", async () => {
  let running = 2;
  let depth: number | null = 5;
  const metrics = new DaemonMetrics({
    gauges: {
      runningJobs: () => running,
      registeredSchedules: () => 3,
      outboxDepth: () => depth,
    },
  });
  let samples = await samplesOf(metrics);
  assert.equal(sampleValue(samples, "iam_orchestrator_running_jobs"), 2);
  assert.equal(
    sampleValue(samples, "iam_orchestrator_registered_schedules"),
    3,
  );
  assert.equal(sampleValue(samples, "iam_orchestrator_outbox_depth"), 5);

  running = 0;
  depth = null;
  samples = await samplesOf(metrics);
  assert.equal(sampleValue(samples, "iam_orchestrator_running_jobs"), 0);
  // null keeps the last value read.
  assert.equal(sampleValue(samples, "iam_orchestrator_outbox_depth"), 5);
});

Deno.test("DaemonMetrics instances do not share samples", async () => {
  const first = new DaemonMetrics();
  const second = new DaemonMetrics();
  first.engineError();
  const samples = await samplesOf(second);
  assert.equal(sampleValue(samples, "iam_orchestrator_engine_errors_total"), 0);
});

// The exposition of a new instance, as prom-client 15.1.3 printed it.
// Metrics without labels show 0, and labelled ones only HELP and TYPE.
const FRESH_EXPOSITION = `\
# HELP iam_orchestrator_build_info Always 1; the version label is the daemon's version
# TYPE iam_orchestrator_build_info gauge
iam_orchestrator_build_info{version="unknown"} 1

# HELP iam_orchestrator_jobs_started_total Job runs started, by customer
# TYPE iam_orchestrator_jobs_started_total counter

# HELP iam_orchestrator_jobs_finished_total Job runs ended, by customer and result (completed, failed, detached)
# TYPE iam_orchestrator_jobs_finished_total counter

# HELP iam_orchestrator_job_duration_seconds Time from the start of a job run to its final status, in seconds
# TYPE iam_orchestrator_job_duration_seconds histogram

# HELP iam_orchestrator_running_jobs Job runs going on now
# TYPE iam_orchestrator_running_jobs gauge
iam_orchestrator_running_jobs 0

# HELP iam_orchestrator_registered_schedules Scheduled jobs whose fire times the orchestrator keeps
# TYPE iam_orchestrator_registered_schedules gauge
iam_orchestrator_registered_schedules 0

# HELP iam_orchestrator_skipped_fires_total Scheduled fire times that started no run, by reason
# TYPE iam_orchestrator_skipped_fires_total counter

# HELP iam_orchestrator_api_requests_total Requests to the IAM API, by endpoint and response status class (none when no response arrived)
# TYPE iam_orchestrator_api_requests_total counter

# HELP iam_orchestrator_api_retries_total Requests to the IAM API repeated after a failure, by endpoint
# TYPE iam_orchestrator_api_retries_total counter

# HELP iam_orchestrator_log_lines_shipped_total Job log lines the IAM API accepted
# TYPE iam_orchestrator_log_lines_shipped_total counter
iam_orchestrator_log_lines_shipped_total 0

# HELP iam_orchestrator_log_bytes_shipped_total UTF-8 bytes of the job log lines the IAM API accepted
# TYPE iam_orchestrator_log_bytes_shipped_total counter
iam_orchestrator_log_bytes_shipped_total 0

# HELP iam_orchestrator_log_lines_dropped_total Job log lines not sent: over LogSettings:MaxJobLogBytes or still undelivered at a close deadline
# TYPE iam_orchestrator_log_lines_dropped_total counter
iam_orchestrator_log_lines_dropped_total 0

# HELP iam_orchestrator_log_bytes_dropped_total UTF-8 bytes of the job log lines not sent
# TYPE iam_orchestrator_log_bytes_dropped_total counter
iam_orchestrator_log_bytes_dropped_total 0

# HELP iam_orchestrator_outbox_depth Status reports and log entries waiting in the outbox
# TYPE iam_orchestrator_outbox_depth gauge
iam_orchestrator_outbox_depth 0

# HELP iam_orchestrator_engine_errors_total Failed calls to the container engine
# TYPE iam_orchestrator_engine_errors_total counter
iam_orchestrator_engine_errors_total 0
`;

Deno.test("DaemonMetrics renders a new instance exactly", async () => {
  assert.equal(await new DaemonMetrics().render(), FRESH_EXPOSITION);
});

Deno.test("DaemonMetrics contentType is text format 0.0.4", () => {
  assert.equal(
    new DaemonMetrics().contentType,
    "text/plain; version=0.0.4; charset=utf-8",
  );
});

Deno.test("DaemonMetrics renders a job duration series exactly", async () => {
  const metrics = new DaemonMetrics();
  metrics.jobFinished("alpha", "Completed", 1);
  metrics.jobFinished("alpha", "Completed", 20000);
  const lines = (await metrics.render()).split("\n");
  const series = lines.filter((line) =>
    line.startsWith("iam_orchestrator_job_duration_seconds_")
  );
  const labels = 'customer="alpha",result="completed"';
  const bucket = (le: string, count: number) =>
    `iam_orchestrator_job_duration_seconds_bucket{le="${le}",${labels}} ` +
    count;
  assert.deepEqual(series, [
    bucket("1", 1),
    ...[5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400].map((le) =>
      bucket(String(le), 1)
    ),
    bucket("+Inf", 2),
    `iam_orchestrator_job_duration_seconds_sum{${labels}} 20001`,
    `iam_orchestrator_job_duration_seconds_count{${labels}} 2`,
  ]);
});

Deno.test("DaemonMetrics escapes label values", async () => {
  const metrics = new DaemonMetrics({ version: 'v1 "rc"\\x\ny' });
  metrics.jobStarted('we"ird\\cust\nomer');
  const text = await metrics.render();
  assert.match(
    text,
    /^iam_orchestrator_build_info\{version="v1 \\"rc\\"\\\\x\\ny"\} 1$/m,
  );
  assert.match(
    text,
    /^iam_orchestrator_jobs_started_total\{customer="we\\"ird\\\\cust\\nomer"\} 1$/m,
  );
  const samples = parsePrometheusText(text);
  assert.equal(
    sampleValue(samples, "iam_orchestrator_jobs_started_total", {
      customer: 'we"ird\\cust\nomer',
    }),
    1,
  );
});

Deno.test("DaemonMetrics prints special gauge source values", async () => {
  const metrics = new DaemonMetrics({
    gauges: {
      runningJobs: () => NaN,
      registeredSchedules: () => Infinity,
      outboxDepth: () => -Infinity,
    },
  });
  const lines = (await metrics.render()).split("\n");
  assert.ok(lines.includes("iam_orchestrator_running_jobs NaN"));
  assert.ok(lines.includes("iam_orchestrator_registered_schedules +Inf"));
  assert.ok(lines.includes("iam_orchestrator_outbox_depth -Inf"));
});

Deno.test("DaemonMetrics render rejects when a source throws", async () => {
  const metrics = new DaemonMetrics({
    gauges: {
      outboxDepth: () => {
        throw new Error("State store closed");
      },
    },
  });
  await assert.rejects(metrics.render(), /State store closed/);
});
