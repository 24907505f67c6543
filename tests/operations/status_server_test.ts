import assert from "node:assert/strict";
import { DaemonMetrics } from "../../src/operations/metrics.ts";
import { Readiness } from "../../src/operations/readiness.ts";
import {
  startStatusServer,
  type StatusServer,
} from "../../src/operations/status_server.ts";
import { parsePrometheusText, sampleValue } from "./prometheus_text.ts";

const WINDOW_MS = 30_000;

interface Fixture {
  server: StatusServer;
  metrics: DaemonMetrics;
  readiness: Readiness;
  clock: { now: number };
}

async function withServer(fn: (fixture: Fixture) => Promise<void>) {
  const clock = { now: 5_000_000 };
  const metrics = new DaemonMetrics({ version: "9.9.9" });
  const readiness = new Readiness(WINDOW_MS, { now: () => clock.now });
  const server = await startStatusServer({
    hostname: "127.0.0.1",
    port: 0,
    metrics,
    readiness,
  });
  try {
    await fn({ server, metrics, readiness, clock });
  } finally {
    await server.close();
  }
}

async function get(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  return {
    status: response.status,
    headers: response.headers,
    body: await response.text(),
  };
}

Deno.test("startStatusServer binds a free port on loopback", async () => {
  await withServer(({ server }) => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.url, "http://127.0.0.1:0");
    return Promise.resolve();
  });
});

Deno.test("status server returns 200 for healthz", async () => {
  await withServer(async ({ server }) => {
    const response = await get(`${server.url}/healthz`);
    assert.equal(response.status, 200);
    assert.equal(response.body, "ok\n");
  });
});

Deno.test("status server readyz follows polls", async () => {
  await withServer(async ({ server, readiness, clock }) => {
    let response = await get(`${server.url}/readyz`);
    assert.equal(response.status, 503);
    assert.match(response.body, /No successful poll of the IAM API yet/);

    readiness.pollSucceeded();
    readiness.engineSucceeded();
    response = await get(`${server.url}/readyz`);
    assert.equal(response.status, 200);
    assert.equal(response.body, "ready\n");

    clock.now += WINDOW_MS + 1_000;
    readiness.engineSucceeded();
    readiness.pollFailed("connection refused");
    response = await get(`${server.url}/readyz`);
    assert.equal(response.status, 503);
    assert.match(response.body, /poll of the IAM API was 31 s ago/);
    assert.match(response.body, /connection refused/);

    readiness.pollSucceeded();
    response = await get(`${server.url}/readyz`);
    assert.equal(response.status, 200);
  });
});

Deno.test("status server metrics change after calls", async () => {
  await withServer(async ({ server, metrics }) => {
    let response = await get(`${server.url}/metrics`);
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/plain; version=0.0.4; charset=utf-8",
    );
    let samples = parsePrometheusText(response.body);
    assert.equal(
      sampleValue(samples, "iam_orchestrator_build_info", { version: "9.9.9" }),
      1,
    );
    assert.equal(
      sampleValue(samples, "iam_orchestrator_jobs_started_total", {
        customer: "alpha",
      }),
      undefined,
    );

    metrics.jobStarted("alpha");
    metrics.apiResponse("GET /api/jobs/pending", 200);
    response = await get(`${server.url}/metrics`);
    samples = parsePrometheusText(response.body);
    assert.equal(
      sampleValue(samples, "iam_orchestrator_jobs_started_total", {
        customer: "alpha",
      }),
      1,
    );
    assert.equal(sampleValue(samples, "iam_orchestrator_running_jobs"), 1);
    assert.equal(
      sampleValue(samples, "iam_orchestrator_api_requests_total", {
        endpoint: "GET /api/jobs/pending",
        status_class: "2xx",
      }),
      1,
    );
  });
});

Deno.test("status server rejects other paths and methods", async () => {
  await withServer(async ({ server }) => {
    const missing = await get(`${server.url}/status`);
    assert.equal(missing.status, 404);
    const posted = await get(`${server.url}/healthz`, { method: "POST" });
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get("allow"), "GET, HEAD");
    const head = await get(`${server.url}/healthz`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.body, "");
  });
});

Deno.test("startStatusServer rejects an invalid port", async () => {
  await assert.rejects(
    startStatusServer({
      hostname: "127.0.0.1",
      port: 70000,
      metrics: new DaemonMetrics(),
      readiness: new Readiness(1000),
    }),
    RangeError,
  );
});

Deno.test("status server close stops listening", async () => {
  let url = "";
  await withServer(({ server }) => {
    url = server.url;
    return Promise.resolve();
  });
  await assert.rejects(fetch(`${url}/healthz`), TypeError);
});
