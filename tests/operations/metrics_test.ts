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
