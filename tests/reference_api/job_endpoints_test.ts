import assert from "node:assert/strict";
import { parseJob } from "../../src/iam_api/job.ts";
import {
  type ReferenceApiEvent,
  startReferenceApi,
} from "../../src/reference_api/server.ts";
import { send, sendJson } from "./http_helpers.ts";

const ALPHA_JOB = {
  name: "provision",
  customer: "alpha",
  containerImage: "busybox:latest",
  scriptPath: "/scripts/provision-users.sh",
  parameters: { TARGET: "lab" },
};

Deno.test("pending jobs returns every customer without customer", async () => {
  const api = await startReferenceApi({
    jobs: [ALPHA_JOB, { ...ALPHA_JOB, customer: "beta" }],
  });
  try {
    const { status, value } = await sendJson(
      `${api.url}/api/jobs/pending`,
      "GET",
    );
    assert.equal(status, 200);
    assert.ok(Array.isArray(value));
    assert.equal(value.length, 2);
  } finally {
    await api.close();
  }
});

Deno.test("pending jobs filters by customer ignoring case", async () => {
  const api = await startReferenceApi({
    jobs: [ALPHA_JOB, { ...ALPHA_JOB, customer: "beta" }],
  });
  try {
    const { value } = await sendJson(
      `${api.url}/api/jobs/pending?customer=ALPHA&orchestratorId=x`,
      "GET",
    );
    const jobs = value as { customer: string }[];
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].customer, "alpha");
  } finally {
    await api.close();
  }
});

Deno.test("pending jobs skips jobs that are not Pending", async () => {
  const api = await startReferenceApi({
    jobs: [ALPHA_JOB, { ...ALPHA_JOB, status: "Running" }],
  });
  try {
    const { value } = await sendJson(`${api.url}/api/jobs/pending`, "GET");
    assert.equal((value as unknown[]).length, 1);
  } finally {
    await api.close();
  }
});

Deno.test("job JSON has every contract property", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const { status, value } = await sendJson(
      `${api.url}/api/jobs/${job.id}`,
      "GET",
    );
    assert.equal(status, 200);
    const record = value as Record<string, unknown>;
    for (
      const property of [
        "id",
        "name",
        "customer",
        "scriptPath",
        "containerImage",
        "registryServer",
        "registryUsername",
        "registryPassword",
        "parameters",
        "jobType",
        "isWhatIf",
        "isPaused",
        "schedule",
        "status",
        "createdAt",
        "startedAt",
        "completedAt",
        "scheduledFor",
        "assignedToOrchestratorId",
      ]
    ) {
      assert.ok(property in record, `missing ${property}`);
    }
    assert.equal(record.status, "Pending");
    assert.equal(record.jobType, "OneOff");
    const parsed = parseJob(value);
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.reason);
  } finally {
    await api.close();
  }
});

Deno.test("get job answers 404 once deleted", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    assert.ok(api.deleteJob(job.id));
    const response = await send(`${api.url}/api/jobs/${job.id}`, "GET");
    assert.equal(response.status, 404);
  } finally {
    await api.close();
  }
});

Deno.test("get job finds an upper-case id", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const response = await send(
      `${api.url}/api/jobs/${job.id.toUpperCase()}`,
      "GET",
    );
    assert.equal(response.status, 200);
  } finally {
    await api.close();
  }
});

Deno.test("get job answers 404 for a path that is not a GUID", async () => {
  const api = await startReferenceApi();
  try {
    const response = await send(`${api.url}/api/jobs/not-a-guid`, "GET");
    assert.equal(response.status, 404);
  } finally {
    await api.close();
  }
});

Deno.test("patch status accepts any case and stamps times", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const running = await sendJson(
      `${api.url}/api/jobs/${job.id}/status`,
      "PATCH",
      { body: "running" },
    );
    assert.equal(running.status, 200);
    const runningJob = running.value as Record<string, unknown>;
    assert.equal(runningJob.status, "Running");
    assert.equal(typeof runningJob.startedAt, "string");
    assert.equal(runningJob.completedAt, null);

    const completed = await sendJson(
      `${api.url}/api/jobs/${job.id}/status`,
      "PATCH",
      { body: "COMPLETED" },
    );
    const completedJob = completed.value as Record<string, unknown>;
    assert.equal(completedJob.status, "Completed");
    assert.equal(typeof completedJob.completedAt, "string");
    assert.equal(api.getJob(job.id)?.status, "Completed");
  } finally {
    await api.close();
  }
});

Deno.test("patch status rejects an unknown status", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const url = `${api.url}/api/jobs/${job.id}/status`;
    for (const body of ["Done", 2, { status: "Running" }]) {
      const response = await send(url, "PATCH", { body });
      assert.equal(response.status, 400, `body ${JSON.stringify(body)}`);
    }
    assert.equal(api.getJob(job.id)?.status, "Pending");
  } finally {
    await api.close();
  }
});

Deno.test("patch status rejects Scheduled in generation 1", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const response = await send(
      `${api.url}/api/jobs/${job.id}/status`,
      "PATCH",
      {
        body: "Scheduled",
      },
    );
    assert.equal(response.status, 400);
  } finally {
    await api.close();
  }
});

Deno.test("patch status answers 404 for an unknown job", async () => {
  const api = await startReferenceApi();
  try {
    const response = await send(
      `${api.url}/api/jobs/${crypto.randomUUID()}/status`,
      "PATCH",
      { body: "Running" },
    );
    assert.equal(response.status, 404);
  } finally {
    await api.close();
  }
});

Deno.test("patch status rejects a body without JSON type", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const response = await send(
      `${api.url}/api/jobs/${job.id}/status`,
      "PATCH",
      {
        rawBody: '"Running"',
        contentType: "text/plain",
      },
    );
    assert.equal(response.status, 415);
  } finally {
    await api.close();
  }
});

Deno.test("post log stores entries in arrival order", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    for (let i = 0; i < 20; i++) {
      const response = await send(`${api.url}/api/logs`, "POST", {
        body: {
          jobId: job.id,
          message: `line ${i}`,
          level: "Info",
          source: "container",
        },
      });
      assert.equal(response.status, 201);
    }
    const entries = api.logs(job.id);
    assert.deepEqual(
      entries.map((entry) => entry.message),
      Array.from({ length: 20 }, (_, i) => `line ${i}`),
    );
    assert.equal(entries[0].level, "Info");
    assert.equal(entries[0].source, "container");
    assert.equal(typeof entries[0].receivedAt, "number");
    assert.deepEqual(api.logStats(job.id), { count: 20, bytes: 130 });
  } finally {
    await api.close();
  }
});

Deno.test("post log accepts PascalCase names and any case", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const response = await send(`${api.url}/api/logs`, "POST", {
      body: {
        JobId: job.id,
        Message: "héllo",
        Level: "warning",
        Source: "Orchestrator",
      },
    });
    assert.equal(response.status, 201);
    const [entry] = api.logs(job.id);
    assert.equal(entry.level, "Warning");
    assert.equal(entry.source, "orchestrator");
    assert.equal(api.logStats(job.id).bytes, 6);
  } finally {
    await api.close();
  }
});

Deno.test("post log rejects invalid entries", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const valid = {
      jobId: job.id,
      message: "m",
      level: "Info",
      source: "container",
    };
    const cases: unknown[] = [
      { ...valid, jobId: "nope" },
      { ...valid, message: 5 },
      { ...valid, level: "Verbose" },
      { ...valid, level: 1 },
      { ...valid, source: "docker" },
      [valid],
    ];
    for (const body of cases) {
      const response = await send(`${api.url}/api/logs`, "POST", { body });
      assert.equal(response.status, 400, JSON.stringify(body));
    }
    const garbled = await send(`${api.url}/api/logs`, "POST", {
      rawBody: "{not json",
    });
    assert.equal(garbled.status, 400);
    assert.equal(api.logStats(job.id).count, 0);
  } finally {
    await api.close();
  }
});

Deno.test("post log answers 404 for an unknown job", async () => {
  const api = await startReferenceApi();
  try {
    const response = await send(`${api.url}/api/logs`, "POST", {
      body: {
        jobId: crypto.randomUUID(),
        message: "m",
        level: "Info",
        source: "container",
      },
    });
    assert.equal(response.status, 404);
  } finally {
    await api.close();
  }
});

Deno.test("keepLogEntries false keeps only statistics", async () => {
  const api = await startReferenceApi({ keepLogEntries: false });
  try {
    const job = api.addJob(ALPHA_JOB);
    const response = await send(`${api.url}/api/logs`, "POST", {
      body: {
        jobId: job.id,
        message: "abc",
        level: "Info",
        source: "container",
      },
    });
    assert.equal(response.status, 201);
    assert.deepEqual(api.logs(job.id), []);
    assert.deepEqual(api.logStats(job.id), { count: 1, bytes: 3 });
    assert.deepEqual(api.logStats(), { count: 1, bytes: 3 });
  } finally {
    await api.close();
  }
});

Deno.test("generation 1 answers 404 on generation 2 paths", async () => {
  const api = await startReferenceApi();
  try {
    const job = api.addJob(ALPHA_JOB);
    const cases: [string, string][] = [
      ["POST", "/api/auth/login"],
      ["POST", "/api/orchestrators/heartbeat"],
      ["GET", "/api/orchestrators/o1/update-status"],
      ["POST", "/api/orchestrators/o1/update-ack"],
      ["GET", "/api/certificates/alpha"],
      ["POST", `/api/jobs/${job.id}/refresh-credentials`],
    ];
    for (const [method, path] of cases) {
      const body = method === "GET" ? undefined : {};
      const response = await send(`${api.url}${path}`, method, { body });
      assert.equal(response.status, 404, `${method} ${path}`);
    }
  } finally {
    await api.close();
  }
});

Deno.test("routes ignore case and count requests", async () => {
  const api = await startReferenceApi({ jobs: [ALPHA_JOB] });
  try {
    const response = await send(`${api.url}/API/Jobs/Pending`, "GET");
    assert.equal(response.status, 200);
    assert.equal(api.requests.pendingJobs, 1);
    const wrongMethod = await send(`${api.url}/api/jobs/pending`, "DELETE");
    assert.equal(wrongMethod.status, 405);
    assert.equal(api.requests.methodNotAllowed, 1);
  } finally {
    await api.close();
  }
});

Deno.test("events report status changes and log entries", async () => {
  const events: ReferenceApiEvent[] = [];
  const api = await startReferenceApi({ onEvent: (e) => events.push(e) });
  try {
    const job = api.addJob(ALPHA_JOB);
    await send(`${api.url}/api/jobs/${job.id}/status`, "PATCH", {
      body: "Running",
    });
    await send(`${api.url}/api/logs`, "POST", {
      body: {
        jobId: job.id,
        message: "hi",
        level: "Info",
        source: "container",
      },
    });
    assert.deepEqual(events.map((e) => e.type), [
      "jobCreated",
      "statusChanged",
      "log",
    ]);
    assert.deepEqual(events[1], {
      type: "statusChanged",
      jobId: job.id,
      from: "Pending",
      to: "Running",
      origin: "request",
    });
  } finally {
    await api.close();
  }
});
