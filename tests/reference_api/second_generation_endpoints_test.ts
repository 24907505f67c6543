import assert from "node:assert/strict";
import {
  type ReferenceApi,
  type ReferenceApiOptions,
  startReferenceApi,
} from "../../src/reference_api/server.ts";
import { login, send, sendJson } from "./http_helpers.ts";

const USER = {
  username: "orchestrator",
  password: "secret-password",
  role: "Orchestrator",
};

const JOB = {
  name: "access review",
  customer: "alpha",
  containerImage: "registry.local:5000/iam/review:1",
  registryServer: "registry.local:5000",
  registryUsername: "puller",
  registryPassword: "old-password",
};

async function startSecondGeneration(
  options: ReferenceApiOptions = {},
): Promise<ReferenceApi> {
  return await startReferenceApi({ generation: 2, users: [USER], ...options });
}

async function heartbeat(api: ReferenceApi, token: string, id: string) {
  const response = await send(
    `${api.url}/api/orchestrators/heartbeat`,
    "POST",
    {
      token,
      body: {
        id,
        customerName: "alpha",
        lastHeartbeat: new Date().toISOString(),
        version: "1.0.0",
        hostName: "host-1",
        pendingUpdate: false,
      },
    },
  );
  assert.equal(response.status, 200);
}

function pendingUrl(api: ReferenceApi, orchestratorId: string): string {
  return `${api.url}/api/jobs/pending?customer=alpha&orchestratorId=` +
    orchestratorId;
}

Deno.test("login returns a token for valid credentials", async () => {
  const api = await startSecondGeneration();
  try {
    const { status, value } = await sendJson(
      `${api.url}/api/auth/login`,
      "POST",
      {
        body: { Username: "Orchestrator", Password: "secret-password" },
      },
    );
    assert.equal(status, 200);
    const result = value as Record<string, unknown>;
    assert.equal(typeof result.token, "string");
    assert.equal(result.username, "orchestrator");
    assert.equal(result.role, "Orchestrator");
    assert.ok(!Number.isNaN(Date.parse(result.expiresAt as string)));
  } finally {
    await api.close();
  }
});

Deno.test("login answers 401 for a wrong password", async () => {
  const api = await startSecondGeneration();
  try {
    const response = await send(`${api.url}/api/auth/login`, "POST", {
      body: { username: "orchestrator", password: "wrong" },
    });
    assert.equal(response.status, 401);
  } finally {
    await api.close();
  }
});

Deno.test("endpoints answer 401 without a valid token", async () => {
  const api = await startSecondGeneration();
  try {
    const job = api.addJob(JOB);
    const cases: [string, string][] = [
      ["GET", "/api/jobs/pending?customer=alpha&orchestratorId=o1"],
      ["GET", `/api/jobs/${job.id}`],
      ["PATCH", `/api/jobs/${job.id}/status`],
      ["POST", "/api/logs"],
      ["POST", "/api/orchestrators/heartbeat"],
      ["GET", "/api/orchestrators/o1/update-status"],
      ["POST", "/api/orchestrators/o1/update-ack"],
      ["GET", "/api/certificates/alpha"],
      ["POST", `/api/jobs/${job.id}/refresh-credentials`],
    ];
    for (const [method, path] of cases) {
      const body = method === "GET" ? undefined : "Running";
      const missing = await send(`${api.url}${path}`, method, { body });
      assert.equal(missing.status, 401, `${method} ${path} without token`);
      assert.equal(missing.headers.get("www-authenticate"), "Bearer");
      const wrong = await send(`${api.url}${path}`, method, {
        body,
        token: "forged",
      });
      assert.equal(wrong.status, 401, `${method} ${path} with wrong token`);
    }
    assert.equal(api.getJob(job.id)?.status, "Pending");
  } finally {
    await api.close();
  }
});

Deno.test("expired token answers 401", async () => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const api = await startSecondGeneration({
    tokenLifetimeSeconds: 60,
    now: () => now,
  });
  try {
    const job = api.addJob(JOB);
    const token = await login(api.url);
    const fresh = await send(`${api.url}/api/jobs/${job.id}`, "GET", { token });
    assert.equal(fresh.status, 200);
    now += 60_000;
    const expired = await send(`${api.url}/api/jobs/${job.id}`, "GET", {
      token,
    });
    assert.equal(expired.status, 401);
    assert.match(
      expired.headers.get("www-authenticate") ?? "",
      /invalid_token/,
    );
  } finally {
    await api.close();
  }
});

Deno.test("revokeTokens forces a new login", async () => {
  const api = await startSecondGeneration();
  try {
    const token = await login(api.url);
    api.revokeTokens();
    const response = await send(
      `${api.url}/api/orchestrators/o1/update-status`,
      "GET",
      { token },
    );
    assert.equal(response.status, 401);
  } finally {
    await api.close();
  }
});

Deno.test("pending jobs requires customer and orchestratorId", async () => {
  const api = await startSecondGeneration({ jobs: [JOB] });
  try {
    const token = await login(api.url);
    await heartbeat(api, token, "o1");
    for (
      const query of ["", "?customer=alpha", "?orchestratorId=o1"]
    ) {
      const response = await send(
        `${api.url}/api/jobs/pending${query}`,
        "GET",
        {
          token,
        },
      );
      assert.equal(response.status, 400, `query "${query}"`);
    }
  } finally {
    await api.close();
  }
});

Deno.test("pending jobs requires a heartbeat first", async () => {
  const api = await startSecondGeneration({ jobs: [JOB] });
  try {
    const token = await login(api.url);
    const before = await send(pendingUrl(api, "o1"), "GET", { token });
    assert.equal(before.status, 400);
    await heartbeat(api, token, "o1");
    const after = await sendJson(pendingUrl(api, "o1"), "GET", { token });
    assert.equal(after.status, 200);
    assert.equal((after.value as unknown[]).length, 1);
  } finally {
    await api.close();
  }
});

Deno.test("pending jobs hands out one job per orchestrator", async () => {
  const api = await startSecondGeneration({ jobs: [JOB, JOB, JOB] });
  try {
    const token = await login(api.url);
    await heartbeat(api, token, "o1");
    await heartbeat(api, token, "o2");
    const first = await sendJson(pendingUrl(api, "o1"), "GET", { token });
    const firstJobs = first.value as {
      id: string;
      assignedToOrchestratorId: string;
    }[];
    assert.equal(firstJobs.length, 1);
    assert.equal(firstJobs[0].assignedToOrchestratorId, "o1");

    // Polling again while the job is still Pending returns the same job.
    const again = await sendJson(pendingUrl(api, "o1"), "GET", { token });
    const againJobs = again.value as { id: string }[];
    assert.deepEqual(againJobs.map((job) => job.id), [firstJobs[0].id]);

    const other = await sendJson(pendingUrl(api, "o2"), "GET", { token });
    const otherJobs = other.value as { id: string }[];
    assert.equal(otherJobs.length, 1);
    assert.notEqual(otherJobs[0].id, firstJobs[0].id);

    await send(`${api.url}/api/jobs/${firstJobs[0].id}/status`, "PATCH", {
      token,
      body: "Running",
    });
    const whileRunning = await sendJson(pendingUrl(api, "o1"), "GET", {
      token,
    });
    assert.deepEqual(whileRunning.value, []);

    await send(`${api.url}/api/jobs/${firstJobs[0].id}/status`, "PATCH", {
      token,
      body: "Completed",
    });
    const next = await sendJson(pendingUrl(api, "o1"), "GET", { token });
    const nextJobs = next.value as { id: string }[];
    assert.equal(nextJobs.length, 1);
    assert.notEqual(nextJobs[0].id, firstJobs[0].id);
    assert.notEqual(nextJobs[0].id, otherJobs[0].id);
  } finally {
    await api.close();
  }
});

Deno.test("pending jobs returns Scheduled jobs once due", async () => {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const api = await startSecondGeneration({ now: () => now });
  try {
    api.addJob({
      ...JOB,
      jobType: "Scheduled",
      schedule: "*/5 * * * *",
      status: "Scheduled",
      scheduledFor: "2026-01-01T00:05:00Z",
    });
    const token = await login(api.url);
    await heartbeat(api, token, "o1");
    const early = await sendJson(pendingUrl(api, "o1"), "GET", { token });
    assert.deepEqual(early.value, []);
    now += 5 * 60_000;
    const due = await sendJson(pendingUrl(api, "o1"), "GET", { token });
    assert.equal((due.value as unknown[]).length, 1);
  } finally {
    await api.close();
  }
});

Deno.test("patch status accepts Scheduled in generation 2", async () => {
  const api = await startSecondGeneration();
  try {
    const job = api.addJob(JOB);
    const token = await login(api.url);
    const response = await sendJson(
      `${api.url}/api/jobs/${job.id}/status`,
      "PATCH",
      {
        token,
        body: "scheduled",
      },
    );
    assert.equal(response.status, 200);
    assert.equal((response.value as { status: string }).status, "Scheduled");
  } finally {
    await api.close();
  }
});

Deno.test("setJob back to Pending frees the assignment", async () => {
  const api = await startSecondGeneration();
  try {
    const job = api.addJob({
      ...JOB,
      status: "Completed",
      assignedToOrchestratorId: "o1",
    });
    const requeued = api.setJob(job.id, { status: "Pending" });
    assert.equal(requeued.status, "Pending");
    assert.equal(requeued.assignedToOrchestratorId, null);
  } finally {
    await api.close();
  }
});

Deno.test("update status follows requestUpdate and ack", async () => {
  const api = await startSecondGeneration();
  try {
    const token = await login(api.url);
    const statusUrl = `${api.url}/api/orchestrators/o1/update-status`;
    const unknown = await send(statusUrl, "GET", { token });
    assert.equal(unknown.status, 404);

    await heartbeat(api, token, "o1");
    const idle = await sendJson(statusUrl, "GET", { token });
    assert.deepEqual(idle.value, { pendingUpdate: false });

    api.requestUpdate("o1");
    const requested = await sendJson(statusUrl, "GET", { token });
    assert.deepEqual(requested.value, { pendingUpdate: true });

    // A heartbeat does not clear the request; only the ack does.
    await heartbeat(api, token, "o1");
    assert.equal(api.getOrchestrator("o1")?.pendingUpdate, true);

    const ack = await send(
      `${api.url}/api/orchestrators/o1/update-ack`,
      "POST",
      {
        token,
      },
    );
    assert.equal(ack.status, 200);
    const cleared = await sendJson(statusUrl, "GET", { token });
    assert.deepEqual(cleared.value, { pendingUpdate: false });
  } finally {
    await api.close();
  }
});

Deno.test("update ack answers 404 for an unknown orchestrator", async () => {
  const api = await startSecondGeneration();
  try {
    const token = await login(api.url);
    const response = await send(
      `${api.url}/api/orchestrators/ghost/update-ack`,
      "POST",
      { token },
    );
    assert.equal(response.status, 404);
  } finally {
    await api.close();
  }
});

Deno.test("requestUpdate before a heartbeat applies on it", async () => {
  const api = await startSecondGeneration();
  try {
    api.requestUpdate("o1");
    const token = await login(api.url);
    await heartbeat(api, token, "o1");
    const { value } = await sendJson(
      `${api.url}/api/orchestrators/o1/update-status`,
      "GET",
      { token },
    );
    assert.deepEqual(value, { pendingUpdate: true });
  } finally {
    await api.close();
  }
});

Deno.test("heartbeat rejects a body without id", async () => {
  const api = await startSecondGeneration();
  try {
    const token = await login(api.url);
    const response = await send(
      `${api.url}/api/orchestrators/heartbeat`,
      "POST",
      {
        token,
        body: { customerName: "alpha" },
      },
    );
    assert.equal(response.status, 400);
  } finally {
    await api.close();
  }
});

Deno.test("certificate is served per customer or 404", async () => {
  const certificate = {
    certificateData: btoa("pfx bytes"),
    password: "pfx-password",
    thumbprint: "AB12",
    expiresAt: "2027-01-01T00:00:00Z",
  };
  const api = await startSecondGeneration({
    certificates: { alpha: certificate },
  });
  try {
    const token = await login(api.url);
    const found = await sendJson(`${api.url}/api/certificates/ALPHA`, "GET", {
      token,
    });
    assert.equal(found.status, 200);
    assert.deepEqual(found.value, { customerName: "alpha", ...certificate });
    const missing = await send(`${api.url}/api/certificates/beta`, "GET", {
      token,
    });
    assert.equal(missing.status, 404);
  } finally {
    await api.close();
  }
});

Deno.test("refresh credentials uses the credentials set for the job", async () => {
  const api = await startSecondGeneration();
  try {
    const job = api.addJob(JOB);
    api.setRegistryCredentials(job.id, {
      registryUsername: "puller",
      registryPassword: "new-password",
    });
    const token = await login(api.url);
    const { status, value } = await sendJson(
      `${api.url}/api/jobs/${job.id}/refresh-credentials`,
      "POST",
      { token },
    );
    assert.equal(status, 200);
    const refreshed = value as Record<string, unknown>;
    assert.equal(refreshed.registryPassword, "new-password");
    assert.equal(refreshed.registryServer, "registry.local:5000");
    assert.equal(api.getJob(job.id)?.registryPassword, "new-password");
  } finally {
    await api.close();
  }
});

Deno.test("refresh credentials defaults to a new password", async () => {
  const api = await startSecondGeneration();
  try {
    const job = api.addJob({ ...JOB, status: "Running" });
    const token = await login(api.url);
    const { value } = await sendJson(
      `${api.url}/api/jobs/${job.id}/refresh-credentials`,
      "POST",
      { token },
    );
    const refreshed = value as Record<string, unknown>;
    assert.equal(refreshed.registryUsername, "puller");
    assert.notEqual(refreshed.registryPassword, "old-password");
  } finally {
    await api.close();
  }
});

Deno.test("refresh credentials rejects a finished job", async () => {
  const api = await startSecondGeneration();
  try {
    const job = api.addJob({ ...JOB, status: "Completed" });
    const token = await login(api.url);
    const finished = await send(
      `${api.url}/api/jobs/${job.id}/refresh-credentials`,
      "POST",
      { token },
    );
    assert.equal(finished.status, 400);
    const unknown = await send(
      `${api.url}/api/jobs/${crypto.randomUUID()}/refresh-credentials`,
      "POST",
      { token },
    );
    assert.equal(unknown.status, 404);
    assert.equal(api.getJob(job.id)?.registryPassword, "old-password");
  } finally {
    await api.close();
  }
});
