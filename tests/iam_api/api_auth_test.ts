import assert from "node:assert/strict";
import { configureSync, type LogRecord, resetSync } from "@logtape/logtape";
import {
  ApiAuth,
  type ApiAuthOptions,
  type ApiCredentials,
  loadApiCredentials,
  LoginError,
  readSecretFile,
  renewalMargin,
} from "../../src/iam_api/api_auth.ts";
import {
  type ReferenceApi,
  startReferenceApi,
} from "../../src/reference_api/server.ts";

// A marker that must never appear in a log record or an error message.
const PASSWORD = "pw-MARKER-4b7e19";
const USER = { username: "orchestrator", password: PASSWORD, role: "Admin" };
const LOGIN: ApiCredentials = {
  kind: "login",
  username: USER.username,
  password: PASSWORD,
};

/** Runs a test with LogTape records of the daemon captured. */
async function withRecords(
  test: (records: LogRecord[]) => Promise<void>,
): Promise<void> {
  const records: LogRecord[] = [];
  configureSync({
    reset: true,
    sinks: { test: (record) => records.push(record) },
    loggers: [
      {
        category: ["iam-orchestrator", "api-auth"],
        sinks: ["test"],
        lowestLevel: "debug",
      },
      { category: ["logtape", "meta"], sinks: [], lowestLevel: "warning" },
    ],
  });
  try {
    await test(records);
  } finally {
    resetSync();
  }
}

function recordText(record: LogRecord): string {
  return JSON.stringify({
    message: record.message,
    rawMessage: record.rawMessage,
    properties: record.properties,
  });
}

async function withApi(
  test: (api: ReferenceApi, clock: { now: number }) => Promise<void>,
  options: { tokenLifetimeSeconds?: number } = {},
): Promise<void> {
  const clock = { now: Date.parse("2030-01-01T00:00:00Z") };
  const api = await startReferenceApi({
    generation: 2,
    users: [USER],
    now: () => clock.now,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds,
  });
  try {
    await test(api, clock);
  } finally {
    await api.close();
  }
}

function heartbeatInit(): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      id: "orchestrator-1",
      customerName: "alpha",
      lastHeartbeat: new Date().toISOString(),
      version: "test",
      hostName: "test",
      pendingUpdate: false,
    }),
  };
}

/** Waits, at most about two seconds, until `condition` holds. */
async function eventually(condition: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return condition();
}

/** A fetch stub that returns `respond` for every call with `respond` and records them. */
function stubFetch(respond: (request: Request) => Response) {
  const requests: Request[] = [];
  const fetchStub = (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request);
    return Promise.resolve(respond(request));
  };
  return { fetch: fetchStub as typeof fetch, requests };
}

function authOptions(
  baseUrl: string,
  options: Partial<ApiAuthOptions> = {},
): ApiAuthOptions {
  return { baseUrl, sleep: () => Promise.resolve(), ...options };
}

Deno.test("renewalMargin is 10% capped at 5 minutes", () => {
  assert.equal(renewalMargin(3600_000), 300_000);
  assert.equal(renewalMargin(600_000), 60_000);
  assert.equal(renewalMargin(0), 0);
});

Deno.test("ApiAuth logs in against the reference API", async () => {
  await withApi(async (api) => {
    const auth = new ApiAuth(LOGIN, authOptions(api.url));
    const response = await auth.fetch(
      `${api.url}/api/orchestrators/heartbeat`,
      heartbeatInit(),
    );
    await response.body?.cancel();
    assert.equal(response.status, 200);
    assert.equal(api.requests.login, 1);
    assert.equal(auth.mode, "login");
    assert.deepEqual(auth.secrets, [PASSWORD]);
  });
});

Deno.test("ApiAuth shares one login among callers", async () => {
  await withApi(async (api) => {
    const auth = new ApiAuth(LOGIN, authOptions(api.url));
    const headers = await Promise.all(
      Array.from({ length: 10 }, () => auth.authorizationHeader()),
    );
    assert.equal(api.requests.login, 1);
    assert.equal(new Set(headers).size, 1);
    assert.match(headers[0] ?? "", /^Bearer \S+$/);
  });
});

Deno.test("ApiAuth renews the token before it expires", async () => {
  await withApi(async (api, clock) => {
    const auth = new ApiAuth(
      LOGIN,
      authOptions(api.url, { now: () => clock.now }),
    );
    const first = await auth.authorizationHeader();
    assert.equal(api.requests.login, 1);

    // One hour of lifetime: renewal starts 5 minutes before the expiry.
    clock.now += 54 * 60_000;
    assert.equal(await auth.authorizationHeader(), first);
    assert.equal(api.requests.login, 1);

    clock.now += 2 * 60_000;
    // Inside the margin the old token is still served during the renewal.
    assert.equal(await auth.authorizationHeader(), first);
    assert.ok(await eventually(() => api.requests.login === 2));
    const second = await auth.authorizationHeader();
    assert.notEqual(second, first);
    assert.equal(api.requests.login, 2);

    // Past the expiry the caller waits for a new login.
    clock.now += 61 * 60_000;
    const third = await auth.authorizationHeader();
    assert.notEqual(third, second);
    assert.equal(api.requests.login, 3);
  });
});

Deno.test("ApiAuth.fetch logs in again once after a 401", async () => {
  await withApi(async (api) => {
    const auth = new ApiAuth(LOGIN, authOptions(api.url));
    const before = await auth.authorizationHeader();
    api.revokeTokens();

    const responses = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          auth.fetch(`${api.url}/api/orchestrators/heartbeat`, heartbeatInit()),
      ),
    );
    for (const response of responses) {
      await response.body?.cancel();
      assert.equal(response.status, 200);
    }
    assert.equal(api.requests.login, 2);
    assert.notEqual(await auth.authorizationHeader(), before);
  });
});

Deno.test("ApiAuth.fetch returns a second 401", async () => {
  let logins = 0;
  const { fetch, requests } = stubFetch((request) => {
    if (request.url.endsWith("/api/auth/login")) {
      logins++;
      return Response.json({
        token: `token-${logins}`,
        expiresAt: "2999-01-01T00:00:00Z",
      });
    }
    return new Response(null, { status: 401 });
  });
  const auth = new ApiAuth(LOGIN, authOptions("http://api.test", { fetch }));
  const response = await auth.fetch("http://api.test/api/jobs/x");
  assert.equal(response.status, 401);
  assert.equal(logins, 2);
  const calls = requests.filter((r) => r.url.endsWith("/api/jobs/x"));
  assert.equal(calls.length, 2);
  assert.equal(calls[0].headers.get("authorization"), "Bearer token-1");
  assert.equal(calls[1].headers.get("authorization"), "Bearer token-2");
});

Deno.test("ApiAuth wrong password never logs it", async () => {
  await withRecords(async (records) => {
    await withApi(async (api) => {
      const delays: number[] = [];
      const auth = new ApiAuth(
        { kind: "login", username: USER.username, password: `${PASSWORD}x` },
        authOptions(api.url, {
          maxLoginAttempts: 3,
          random: () => 0.5,
          sleep: (ms) => {
            delays.push(ms);
            return Promise.resolve();
          },
        }),
      );
      const error = await auth.authorizationHeader().then(
        () => assert.fail("login succeeded with a wrong password"),
        (error: unknown) => error,
      );
      assert.ok(error instanceof LoginError);
      assert.equal(error.status, 401);
      assert.ok(!error.message.includes(PASSWORD));
      assert.equal(api.requests.login, 3);
      // Full jitter with base 1 s: half of 1 s, then half of 2 s.
      assert.deepEqual(delays, [500, 1000]);
    });
    const failures = records.filter((r) =>
      r.level === "warning" || r.level === "error"
    );
    assert.equal(failures.length, 3);
    for (const record of failures) {
      assert.equal(record.properties.status, 401);
    }
    for (const record of records) {
      assert.ok(!recordText(record).includes(PASSWORD), recordText(record));
    }
  });
});

Deno.test("ApiAuth backoff is capped at 60 s", async () => {
  const { fetch } = stubFetch(() => new Response("busy", { status: 503 }));
  const delays: number[] = [];
  const auth = new ApiAuth(
    LOGIN,
    authOptions("http://api.test", {
      fetch,
      maxLoginAttempts: 10,
      random: () => 0.5,
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    }),
  );
  await assert.rejects(auth.authorizationHeader(), LoginError);
  assert.deepEqual(delays, [
    500,
    1000,
    2000,
    4000,
    8000,
    16000,
    30000,
    30000,
    30000,
  ]);
});

Deno.test("ApiAuth masks a password echoed in an error", async () => {
  const { fetch } = stubFetch(() =>
    new Response(`invalid request: password=${PASSWORD}`, { status: 400 })
  );
  const auth = new ApiAuth(
    LOGIN,
    authOptions("http://api.test", { fetch, maxLoginAttempts: 1 }),
  );
  const error = await auth.authorizationHeader().catch((e: unknown) => e);
  assert.ok(error instanceof LoginError);
  assert.equal(error.status, 400);
  assert.ok(!error.message.includes(PASSWORD), error.message);
  assert.match(error.message, /password=\*\*\*/);
});

Deno.test("ApiAuth rejects a login response without token", async () => {
  const { fetch } = stubFetch(() => Response.json({ username: "x" }));
  const auth = new ApiAuth(
    LOGIN,
    authOptions("http://api.test", { fetch, maxLoginAttempts: 1 }),
  );
  await assert.rejects(auth.authorizationHeader(), /without a token/);
});

Deno.test("ApiAuth uses a token whose expiry is past", async () => {
  let logins = 0;
  const { fetch } = stubFetch(() => {
    logins++;
    return Response.json({ token: "t", expiresAt: "2000-01-01T00:00:00" });
  });
  const auth = new ApiAuth(LOGIN, authOptions("http://api.test", { fetch }));
  assert.equal(await auth.authorizationHeader(), "Bearer t");
  assert.equal(await auth.authorizationHeader(), "Bearer t");
  assert.equal(logins, 1);
});

Deno.test("ApiAuth sends a fixed token", async () => {
  await withRecords(async (records) => {
    const { fetch, requests } = stubFetch(() =>
      new Response(null, { status: 401 })
    );
    const auth = new ApiAuth(
      { kind: "token", token: "fixed-token" },
      authOptions("http://api.test", { fetch }),
    );
    assert.equal(await auth.authorizationHeader(), "Bearer fixed-token");
    for (let i = 0; i < 3; i++) {
      const response = await auth.fetch("http://api.test/api/jobs/x");
      assert.equal(response.status, 401);
    }
    // No login and no repeat: a fixed token cannot be renewed.
    assert.equal(requests.length, 3);
    for (const request of requests) {
      assert.equal(request.headers.get("authorization"), "Bearer fixed-token");
    }
    const warnings = records.filter((r) => r.level === "warning");
    assert.equal(warnings.length, 1);
    assert.ok(!recordText(warnings[0]).includes("fixed-token"));
  });
});

Deno.test("ApiAuth without credentials sends no header", async () => {
  const { fetch, requests } = stubFetch(() => new Response("[]"));
  const auth = new ApiAuth(
    { kind: "none" },
    authOptions("http://a", { fetch }),
  );
  assert.equal(await auth.authorizationHeader(), null);
  await (await auth.fetch("http://a/api/jobs/pending")).body?.cancel();
  assert.equal(requests[0].headers.get("authorization"), null);
  assert.deepEqual(auth.secrets, []);
});

Deno.test("ApiAuth stops retrying when closed", async () => {
  const { fetch } = stubFetch(() => new Response(null, { status: 503 }));
  let sleeps = 0;
  const auth = new ApiAuth(
    LOGIN,
    authOptions("http://api.test", {
      fetch,
      sleep: () => {
        sleeps++;
        if (sleeps === 3) auth.close();
        return Promise.resolve();
      },
    }),
  );
  await assert.rejects(auth.authorizationHeader(), /client is closing/);
  assert.equal(sleeps, 3);
});

Deno.test("ApiAuth caller signal ends the wait", async () => {
  const { fetch } = stubFetch(() => new Response(null, { status: 503 }));
  const controller = new AbortController();
  const auth = new ApiAuth(
    LOGIN,
    authOptions("http://api.test", {
      fetch,
      sleep: (_ms, signal) =>
        new Promise((resolve) => {
          controller.abort(new Error("caller gave up"));
          signal.addEventListener("abort", () => resolve(), { once: true });
        }),
    }),
  );
  await assert.rejects(
    auth.authorizationHeader({ signal: controller.signal }),
    /caller gave up/,
  );
  auth.close();
});

Deno.test("loadApiCredentials reads a token file", async () => {
  const directory = await Deno.makeTempDir({ prefix: "api_auth_test_" });
  try {
    const path = `${directory}/token`;
    await Deno.writeTextFile(path, "file-token\n");
    const credentials = await loadApiCredentials({
      token: "",
      tokenFile: path,
      username: "",
      password: "",
      passwordFile: "",
    });
    assert.deepEqual(credentials, { kind: "token", token: "file-token" });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("loadApiCredentials reads a password file", async () => {
  const directory = await Deno.makeTempDir({ prefix: "api_auth_test_" });
  try {
    const path = `${directory}/password`;
    // The trailing space belongs to the password; the line break does not.
    await Deno.writeTextFile(path, `${PASSWORD} \r\n`);
    const credentials = await loadApiCredentials({
      token: "",
      tokenFile: "",
      username: "orchestrator",
      password: "",
      passwordFile: path,
    });
    assert.deepEqual(credentials, {
      kind: "login",
      username: "orchestrator",
      password: `${PASSWORD} `,
    });
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("loadApiCredentials rejects combinations", async () => {
  const none = {
    token: "",
    tokenFile: "",
    username: "",
    password: "",
    passwordFile: "",
  };
  assert.deepEqual(await loadApiCredentials(none), { kind: "none" });
  const cases: Array<[Partial<typeof none>, RegExp]> = [
    [{ token: "t", tokenFile: "/f" }, /Token and ApiSettings:TokenFile/],
    [{ username: "u", password: "p", passwordFile: "/f" }, /both set/],
    [{ token: "t", username: "u", password: "p" }, /keep one/],
    [{ username: "u" }, /without a password/],
    [{ password: PASSWORD }, /Username is empty/],
  ];
  for (const [settings, pattern] of cases) {
    const error = await loadApiCredentials({ ...none, ...settings }).catch(
      (e: unknown) => e,
    );
    assert.ok(error instanceof TypeError, JSON.stringify(settings));
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes(PASSWORD));
  }
});

Deno.test("readSecretFile names a missing file", async () => {
  const path = "/tmp/api_auth_test_missing/password";
  await assert.rejects(
    readSecretFile(path, { settingKey: "ApiSettings:PasswordFile" }),
    (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /ApiSettings:PasswordFile/);
      assert.ok(error.message.includes(`"${path}"`));
      assert.match(error.message, /does not exist/);
      return true;
    },
  );
});

Deno.test("readSecretFile names the Deno permission", async () => {
  const path = "/etc/iam/password";
  await assert.rejects(
    readSecretFile(path, {
      settingKey: "ApiSettings:PasswordFile",
      readTextFile: () =>
        Promise.reject(new Deno.errors.NotCapable("Requires read access")),
    }),
    (error: Error) => {
      assert.ok(error.message.includes(`--allow-read=${path}`));
      return true;
    },
  );
});

Deno.test("readSecretFile rejects an empty file", async () => {
  await assert.rejects(
    readSecretFile("/f", {
      settingKey: "ApiSettings:TokenFile",
      readTextFile: () => Promise.resolve("\n"),
    }),
    /ApiSettings:TokenFile "\/f" is empty/,
  );
});
