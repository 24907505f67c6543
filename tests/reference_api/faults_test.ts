import assert from "node:assert/strict";
import {
  FaultInjector,
  validateFaultRule,
} from "../../src/reference_api/faults.ts";
import {
  type ReferenceApi,
  startReferenceApi,
} from "../../src/reference_api/server.ts";
import { send, sendJson } from "./http_helpers.ts";

const JOB = { name: "review", customer: "alpha", containerImage: "busybox" };

function logBody(jobId: string) {
  return { jobId, message: "line", level: "Info", source: "container" };
}

/** Fetches and reads the body; resolves to the error when either fails. */
async function fetchFailure(
  url: string,
  init?: RequestInit,
): Promise<unknown> {
  try {
    const response = await fetch(url, init);
    await response.text();
    return null;
  } catch (error) {
    return error;
  }
}

/** Waits, with a bounded number of checks, until the condition holds. */
async function waitFor(condition: () => boolean, what: string) {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

async function withApi(
  test: (api: ReferenceApi) => Promise<void>,
  now?: () => number,
): Promise<void> {
  const api = await startReferenceApi({ now });
  try {
    await test(api);
  } finally {
    await api.close();
  }
}

Deno.test("status fault applies to the next count requests", async () => {
  await withApi(async (api) => {
    const job = api.addJob(JOB);
    api.faults.add({
      path: "/api/logs",
      kind: "status",
      status: 503,
      count: 2,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await send(`${api.url}/api/logs`, "POST", {
        body: logBody(job.id),
      });
      statuses.push(response.status);
    }
    assert.deepEqual(statuses, [503, 503, 201]);
    assert.equal(api.logStats(job.id).count, 1);
    assert.equal(api.requests.postLog, 3);
    assert.equal(api.faults.appliedCount, 2);
    assert.deepEqual(api.faults.list(), []);
  });
});

Deno.test("status fault defaults to 500 with a problem body", async () => {
  await withApi(async (api) => {
    api.faults.add({ kind: "status", count: 1 });
    const response = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(response.status, 500);
    assert.match(
      response.headers.get("content-type") ?? "",
      /application\/problem\+json/,
    );
  });
});

Deno.test("fault window ends after forMs", async () => {
  let now = 1_000_000;
  await withApi(async (api) => {
    api.faults.add({ path: "/api/jobs/pending", kind: "status", forMs: 1000 });
    const during = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(during.status, 500);
    now += 999;
    const late = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(late.status, 500);
    now += 1;
    const after = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(after.status, 200);
    assert.deepEqual(api.faults.list(), []);
  }, () => now);
});

Deno.test("fault matches method and path pattern", async () => {
  await withApi(async (api) => {
    const job = api.addJob(JOB);
    api.faults.add({
      method: "patch",
      path: "/api/jobs/:id/status",
      kind: "status",
      status: 409,
    });
    const get = await send(`${api.url}/api/jobs/${job.id}`, "GET");
    assert.equal(get.status, 200);
    const patch = await send(`${api.url}/api/jobs/${job.id}/status`, "PATCH", {
      body: "Running",
    });
    assert.equal(patch.status, 409);
    assert.equal(api.getJob(job.id)?.status, "Pending");
  });
});

Deno.test("fault path prefix stops at segment boundaries", async () => {
  await withApi(async (api) => {
    api.faults.add({ path: "/api/job", kind: "status" });
    const response = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(response.status, 200);
  });
});

Deno.test("drop fault fails the request and stores nothing", async () => {
  await withApi(async (api) => {
    const job = api.addJob(JOB);
    api.faults.add({ path: "/api/logs", kind: "drop", count: 1 });
    const error = await fetchFailure(`${api.url}/api/logs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(logBody(job.id)),
    });
    assert.ok(error instanceof TypeError, String(error));
    assert.equal(api.logStats(job.id).count, 0);
    const retry = await send(`${api.url}/api/logs`, "POST", {
      body: logBody(job.id),
    });
    assert.equal(retry.status, 201);
  });
});

Deno.test("delay fault answers normally after the wait", async () => {
  await withApi(async (api) => {
    const job = api.addJob(JOB);
    api.faults.add({ path: "/api/jobs", kind: "delay", delayMs: 20, count: 1 });
    const response = await send(
      `${api.url}/api/jobs/${job.id}/status`,
      "PATCH",
      {
        body: "Running",
      },
    );
    assert.equal(response.status, 200);
    assert.equal(api.getJob(job.id)?.status, "Running");
  });
});

Deno.test("garbage fault returns invalid JSON with 200", async () => {
  await withApi(async (api) => {
    api.faults.add({ kind: "garbage", count: 1 });
    const response = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(response.status, 200);
    assert.throws(() => JSON.parse(response.text), SyntaxError);
  });
});

Deno.test("html fault returns a 502 page", async () => {
  await withApi(async (api) => {
    api.faults.add({ kind: "html", count: 1 });
    const response = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(response.status, 502);
    assert.match(response.headers.get("content-type") ?? "", /text\/html/);
    assert.match(response.text, /<html>/);
  });
});

Deno.test("redirect fault sends the client to the login page", async () => {
  await withApi(async (api) => {
    api.faults.add({ kind: "redirect", path: "/api/jobs/pending", count: 2 });
    const manual = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(manual.status, 302);
    assert.equal(
      manual.headers.get("location"),
      "/Account/Login?ReturnUrl=%2Fapi%2Fjobs%2Fpending",
    );
    const followed = await send(`${api.url}/api/jobs/pending`, "GET", {
      follow: true,
    });
    assert.equal(followed.status, 200);
    assert.match(followed.text, /<form/);
  });
});

Deno.test("huge fault streams bytes that are no job list", async () => {
  await withApi(async (api) => {
    const bytes = 3 * 1024 * 1024 + 7;
    api.faults.add({ kind: "huge", bytes, count: 1 });
    const response = await fetch(`${api.url}/api/jobs/pending`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), String(bytes));
    const body = new Uint8Array(await response.arrayBuffer());
    assert.equal(body.length, bytes);
    assert.throws(
      () => JSON.parse(new TextDecoder().decode(body)),
      SyntaxError,
    );
  });
});

Deno.test("huge fault stops when the client cancels", async () => {
  await withApi(async (api) => {
    api.faults.add({ kind: "huge", count: 1 });
    const response = await fetch(`${api.url}/api/jobs/pending`);
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    await reader.cancel();
  });
});

Deno.test("hang fault answers only when the server closes", async () => {
  const api = await startReferenceApi();
  api.faults.add({ path: "/api/jobs/pending", kind: "hang" });
  const pending = fetchFailure(`${api.url}/api/jobs/pending`);
  await waitFor(() => api.requests.pendingJobs === 1, "the hanging request");
  await api.close();
  const error = await pending;
  assert.ok(error instanceof TypeError, String(error));
});

Deno.test("hang fault lets the client abort", async () => {
  await withApi(async (api) => {
    api.faults.add({ path: "/api/jobs/pending", kind: "hang", count: 1 });
    const controller = new AbortController();
    const pending = fetchFailure(`${api.url}/api/jobs/pending`, {
      signal: controller.signal,
    });
    await waitFor(() => api.requests.pendingJobs === 1, "the hanging request");
    controller.abort();
    const error = await pending;
    assert.ok(error instanceof DOMException, String(error));
    const next = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(next.status, 200);
  });
});

Deno.test("delay fault is cut short by close", async () => {
  const api = await startReferenceApi();
  api.faults.add({ kind: "delay", delayMs: 60_000 });
  const pending = fetchFailure(`${api.url}/api/jobs/pending`);
  await waitFor(() => api.requests.pendingJobs === 1, "the delayed request");
  await api.close();
  const error = await pending;
  assert.ok(error instanceof TypeError, String(error));
});

Deno.test("fault admin endpoint adds, lists and clears rules", async () => {
  await withApi(async (api) => {
    const added = await sendJson(`${api.url}/_faults`, "POST", {
      body: { path: "/api/jobs/pending", kind: "status", status: 418 },
    });
    assert.equal(added.status, 201);
    assert.equal(typeof (added.value as { id: string }).id, "string");

    const listed = await sendJson(`${api.url}/_faults`, "GET");
    assert.equal((listed.value as unknown[]).length, 1);

    const faulted = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(faulted.status, 418);

    const cleared = await send(`${api.url}/_faults`, "DELETE");
    assert.equal(cleared.status, 204);
    const after = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(after.status, 200);
  });
});

Deno.test("fault admin endpoint removes one rule by id", async () => {
  await withApi(async (api) => {
    const id = api.faults.add({ path: "/api/jobs/pending", kind: "status" });
    const removed = await send(`${api.url}/_faults?id=${id}`, "DELETE");
    assert.equal(removed.status, 204);
    const again = await send(`${api.url}/_faults?id=${id}`, "DELETE");
    assert.equal(again.status, 404);
  });
});

Deno.test("fault admin endpoint rejects an invalid rule", async () => {
  await withApi(async (api) => {
    for (
      const body of [
        { kind: "explode" },
        { kind: "status", count: 0 },
        { kind: "status", status: 99 },
        { kind: "delay", delayMs: "5" },
        [],
      ]
    ) {
      const response = await send(`${api.url}/_faults`, "POST", { body });
      assert.equal(response.status, 400, JSON.stringify(body));
    }
    assert.deepEqual(api.faults.list(), []);
  });
});

Deno.test("fault rules never apply to the admin endpoint", async () => {
  await withApi(async (api) => {
    api.faults.add({ kind: "hang" });
    const cleared = await send(`${api.url}/_faults`, "DELETE");
    assert.equal(cleared.status, 204);
    const response = await send(`${api.url}/api/jobs/pending`, "GET");
    assert.equal(response.status, 200);
  });
});

Deno.test("validateFaultRule rejects bad input", () => {
  assert.throws(() => validateFaultRule({ kind: "nope" }), TypeError);
  assert.throws(() => validateFaultRule(null), TypeError);
  assert.throws(
    () => validateFaultRule({ kind: "status", path: 5 }),
    TypeError,
  );
  assert.throws(
    () => validateFaultRule({ kind: "status", count: 1.5 }),
    RangeError,
  );
  assert.throws(
    () => validateFaultRule({ kind: "huge", bytes: -1 }),
    RangeError,
  );
});

Deno.test("FaultInjector applies rules in order added", () => {
  const faults = new FaultInjector({ now: () => 0 });
  faults.add({ path: "/api/logs", kind: "garbage", count: 1 });
  faults.add({ kind: "html" });
  assert.equal(faults.take("POST", "/api/logs")?.kind, "garbage");
  assert.equal(faults.take("POST", "/api/logs")?.kind, "html");
  assert.equal(faults.take("GET", "/API/JOBS")?.kind, "html");
});
