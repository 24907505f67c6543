import assert from "node:assert/strict";
import { startReferenceApi } from "../../src/reference_api/server.ts";
import { login, send, sendJson } from "./http_helpers.ts";

Deno.test("startReferenceApi fills defaults of seed jobs", async () => {
  const id = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
  const api = await startReferenceApi({
    jobs: [{ id, Name: "seeded", jobType: "scheduled" } as never],
  });
  try {
    const [job] = api.listJobs();
    assert.equal(job.id, id);
    assert.equal(job.name, "seeded");
    assert.equal(job.jobType, "Scheduled");
    assert.equal(job.status, "Pending");
    assert.deepEqual(job.parameters, {});
    assert.equal(typeof job.createdAt, "string");
    assert.equal(job.assignedToOrchestratorId, null);
    assert.ok(api.url.startsWith("http://127.0.0.1:"));
  } finally {
    await api.close();
  }
});

Deno.test("startReferenceApi rejects a seed id that is no GUID", async () => {
  await assert.rejects(
    () => startReferenceApi({ jobs: [{ id: "job-1" }] }),
    TypeError,
  );
});

Deno.test("startReferenceApi rejects an invalid port", async () => {
  await assert.rejects(() => startReferenceApi({ port: 70000 }), RangeError);
});

Deno.test("addJob rejects a repeated id", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob();
    assert.throws(() => api.addJob({ id: job.id }), RangeError);
  } finally {
    await api.close();
  }
});

Deno.test("getJob returns a copy", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob({ parameters: { A: "1" } });
    const copy = api.getJob(job.id)!;
    copy.parameters.A = "2";
    copy.status = "Failed";
    assert.equal(api.getJob(job.id)?.parameters.A, "1");
    assert.equal(api.getJob(job.id)?.status, "Pending");
  } finally {
    await api.close();
  }
});

Deno.test("setJob pauses a job and changes its schedule", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob({ jobType: "Scheduled", schedule: "0 * * * *" });
    api.setJob(job.id, { isPaused: true, schedule: "*/5 * * * *" });
    const { value } = await sendJson(`${api.url}/api/jobs/${job.id}`, "GET");
    const record = value as Record<string, unknown>;
    assert.equal(record.isPaused, true);
    assert.equal(record.schedule, "*/5 * * * *");
    assert.throws(
      () => api.setJob(crypto.randomUUID(), { isPaused: true }),
      RangeError,
    );
  } finally {
    await api.close();
  }
});

Deno.test("close releases the port", async () => {
  const first = await startReferenceApi();
  const port = Number(new URL(first.url).port);
  await first.close();
  const second = await startReferenceApi({ port });
  try {
    assert.equal(second.url, `http://127.0.0.1:${port}`);
  } finally {
    await second.close();
  }
});

Deno.test("close can be called twice", async () => {
  const api = await startReferenceApi();
  await api.close();
  await api.close();
});

Deno.test("list jobs returns every job", async () => {
  const api = await startReferenceApi({
    jobs: [{ status: "Running" }, { status: "Completed" }],
  });
  try {
    const { status, value } = await sendJson(`${api.url}/api/jobs`, "GET");
    assert.equal(status, 200);
    assert.equal((value as unknown[]).length, 2);
  } finally {
    await api.close();
  }
});

Deno.test("create job accepts PascalCase and answers 201", async () => {
  const api = await startReferenceApi();
  try {
    const { status, value } = await sendJson(`${api.url}/api/jobs`, "POST", {
      body: { Name: "made", Customer: "alpha", ContainerImage: "busybox" },
    });
    assert.equal(status, 201);
    const job = value as { id: string; name: string; customer: string };
    assert.equal(job.name, "made");
    assert.equal(api.getJob(job.id)?.customer, "alpha");
  } finally {
    await api.close();
  }
});

Deno.test("create job rejects bad input", async () => {
  const api = await startReferenceApi();
  try {
    const existing = api.addJob();
    const cases: [unknown, number][] = [
      [{ status: "Done" }, 400],
      [{ jobType: "Weekly" }, 400],
      [{ id: "nope" }, 400],
      [{ id: existing.id }, 409],
      [[], 400],
    ];
    for (const [body, expected] of cases) {
      const response = await send(`${api.url}/api/jobs`, "POST", { body });
      assert.equal(response.status, expected, JSON.stringify(body));
    }
    assert.equal(api.listJobs().length, 1);
  } finally {
    await api.close();
  }
});

Deno.test("delete job endpoint removes the job", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob();
    const deleted = await send(`${api.url}/api/jobs/${job.id}`, "DELETE");
    assert.equal(deleted.status, 204);
    assert.equal(api.getJob(job.id), undefined);
    const again = await send(`${api.url}/api/jobs/${job.id}`, "DELETE");
    assert.equal(again.status, 404);
  } finally {
    await api.close();
  }
});

Deno.test("list logs returns entries in arrival order", async () => {
  const api = await startReferenceApi();
  try {
    const first = api.addJob();
    const second = api.addJob();
    for (const [job, message] of [[first, "a"], [second, "b"], [first, "c"]]) {
      await send(`${api.url}/api/logs`, "POST", {
        body: {
          jobId: (job as { id: string }).id,
          message,
          level: "Info",
          source: "container",
        },
      });
    }
    const all = await sendJson(`${api.url}/api/logs`, "GET");
    const messages = (all.value as { message: string }[]).map((e) => e.message);
    assert.deepEqual(messages, ["a", "b", "c"]);
    const firstJobLogs = await sendJson(
      `${api.url}/api/logs?jobId=${first.id}`,
      "GET",
    );
    const entries = firstJobLogs.value as {
      message: string;
      timestamp: string;
    }[];
    assert.deepEqual(entries.map((e) => e.message), ["a", "c"]);
    assert.ok(!Number.isNaN(Date.parse(entries[0].timestamp)));
  } finally {
    await api.close();
  }
});

Deno.test("request update endpoint sets the flag", async () => {
  const api = await startReferenceApi({
    generation: 2,
    users: [{ username: "u", password: "p", role: "Orchestrator" }],
  });
  try {
    const token = await login(api.url, "u", "p");
    await send(`${api.url}/api/orchestrators/heartbeat`, "POST", {
      token,
      body: { id: "o1" },
    });
    assert.equal(api.getOrchestrator("o1")?.pendingUpdate, false);
    const response = await send(
      `${api.url}/api/orchestrators/o1/request-update`,
      "POST",
    );
    assert.equal(response.status, 200);
    assert.equal(api.getOrchestrator("o1")?.pendingUpdate, true);
  } finally {
    await api.close();
  }
});
