import assert from "node:assert/strict";
import {
  Readiness,
  readinessWindowMs,
  startEngineChecks,
} from "../../src/operations/readiness.ts";

const WINDOW_MS = 60_000;

function clockedReadiness(): { readiness: Readiness; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const readiness = new Readiness(WINDOW_MS, { now: () => clock.now });
  return { readiness, clock };
}

Deno.test("readinessWindowMs is three intervals plus 30 s", () => {
  assert.equal(readinessWindowMs(10), 60_000);
  assert.equal(readinessWindowMs(0.5), 31_500);
  assert.throws(() => readinessWindowMs(0), RangeError);
});

Deno.test("Readiness rejects a window that is not positive", () => {
  assert.throws(() => new Readiness(0), RangeError);
  assert.throws(() => new Readiness(Number.NaN), RangeError);
});

Deno.test("Readiness is not ready before the first poll", () => {
  const { readiness } = clockedReadiness();
  readiness.engineSucceeded();
  const state = readiness.check();
  assert.equal(state.ready, false);
  assert.match(state.reason ?? "", /No successful poll of the IAM API yet/);
});

Deno.test("Readiness is ready after a poll and an engine check", () => {
  const { readiness } = clockedReadiness();
  readiness.pollSucceeded();
  readiness.engineSucceeded();
  assert.deepEqual(readiness.check(), { ready: true, reason: null });
});

Deno.test("Readiness expires when polls keep failing", () => {
  const { readiness, clock } = clockedReadiness();
  readiness.pollSucceeded();
  readiness.engineSucceeded();

  clock.now += WINDOW_MS;
  readiness.engineSucceeded();
  readiness.pollFailed("GET /api/jobs/pending answered 503");
  assert.equal(readiness.check().ready, true, "still within the window");

  clock.now += 1;
  const state = readiness.check();
  assert.equal(state.ready, false);
  assert.match(state.reason ?? "", /Last successful poll of the IAM API/);
  assert.match(state.reason ?? "", /readiness window of 60 s/);
  assert.match(state.reason ?? "", /answered 503/);

  readiness.pollSucceeded();
  assert.deepEqual(readiness.check(), { ready: true, reason: null });
});

Deno.test("Readiness names both probes when both are stale", () => {
  const { readiness, clock } = clockedReadiness();
  readiness.pollSucceeded();
  readiness.engineSucceeded();
  readiness.engineFailed("Docker endpoint unix:///x does not exist");
  const state = readiness.check(clock.now + WINDOW_MS + 5_000);
  assert.equal(state.ready, false);
  assert.match(state.reason ?? "", /poll of the IAM API was 65 s ago/);
  assert.match(state.reason ?? "", /check of the container engine/);
  assert.match(state.reason ?? "", /does not exist/);
});

Deno.test("Readiness stays unready after shuttingDown", () => {
  const { readiness } = clockedReadiness();
  readiness.pollSucceeded();
  readiness.engineSucceeded();
  readiness.shuttingDown();
  readiness.pollSucceeded();
  assert.deepEqual(readiness.check(), {
    ready: false,
    reason: "The orchestrator is shutting down",
  });
});

Deno.test("startEngineChecks records outcomes until stopped", async () => {
  const { readiness } = clockedReadiness();
  readiness.pollSucceeded();
  let calls = 0;
  const failures: string[] = [];
  const backend = {
    describe() {
      calls++;
      if (calls === 2) return Promise.reject(new Error("engine gone"));
      return Promise.resolve({ name: "Fake", version: "1", apiVersion: "1" });
    },
  };
  const stop = startEngineChecks(backend, readiness, {
    intervalMs: 1,
    onFailure: (error) => failures.push(error.message),
  });
  for (let i = 0; i < 500 && calls < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await stop();
  const callsAtStop = calls;
  assert.ok(callsAtStop >= 4, `only ${callsAtStop} checks ran`);
  assert.deepEqual(failures, ["engine gone"]);
  assert.equal(readiness.check().ready, true);

  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(calls, callsAtStop, "a check ran after stop");
});

Deno.test("startEngineChecks keeps a failing engine unready", async () => {
  const { readiness } = clockedReadiness();
  readiness.pollSucceeded();
  const backend = {
    describe: () => Promise.reject(new Error("permission denied")),
  };
  const stop = startEngineChecks(backend, readiness, { intervalMs: 60_000 });
  await stop();
  const state = readiness.check();
  assert.equal(state.ready, false);
  assert.match(
    state.reason ?? "",
    /No successful check of the container engine/,
  );
  assert.match(state.reason ?? "", /permission denied/);
});
