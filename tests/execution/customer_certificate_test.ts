import assert from "node:assert/strict";
import {
  CERTIFICATE_DIRECTORY_PREFIX,
  CERTIFICATE_FILE_NAME,
  CertificateError,
  certificateExpiryWarning,
  type CustomerCertificate,
  fetchCustomerCertificate,
  removeStaleCertificateDirectories,
  writeCertificateFile,
} from "../../src/execution/customer_certificate.ts";
import { ApiAuth } from "../../src/iam_api/api_auth.ts";
import { startReferenceApi } from "../../src/reference_api/server.ts";

// Markers that must never appear in an error message.
const PFX_PASSWORD = "pfx-MARKER-91c2d0";
const PFX_BYTES = crypto.getRandomValues(new Uint8Array(2048));
const PFX_BASE64 = encodeBase64(PFX_BYTES);
const USER = { username: "orchestrator", password: "login-pw", role: "Admin" };
const DAY_MS = 24 * 60 * 60 * 1000;

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function certificate(
  overrides: Partial<CustomerCertificate> = {},
): CustomerCertificate {
  return {
    customerName: "alpha",
    data: PFX_BYTES,
    password: PFX_PASSWORD,
    thumbprint: "A1B2C3",
    expiresAt: new Date("2031-01-01T00:00:00Z"),
    ...overrides,
  };
}

function stubFetch(body: unknown, status = 200) {
  return () =>
    Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json" },
      }),
    );
}

async function withTempDirectory(
  test: (directory: string) => Promise<void>,
): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "certificate_test_" });
  try {
    await test(directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

Deno.test("fetchCustomerCertificate reads the reference API", async () => {
  const api = await startReferenceApi({
    generation: 2,
    users: [USER],
    certificates: {
      alpha: {
        certificateData: PFX_BASE64,
        password: PFX_PASSWORD,
        thumbprint: "A1B2C3",
        expiresAt: "2031-01-01T00:00:00",
      },
    },
  });
  try {
    const auth = new ApiAuth(
      { kind: "login", username: USER.username, password: USER.password },
      { baseUrl: api.url },
    );
    const result = await fetchCustomerCertificate("Alpha", {
      baseUrl: api.url,
      fetch: auth.fetch,
    });
    assert.ok(result !== null);
    assert.equal(result.customerName, "alpha");
    assert.deepEqual(result.data, PFX_BYTES);
    assert.equal(result.password, PFX_PASSWORD);
    assert.equal(result.thumbprint, "A1B2C3");
    // A time without an offset is UTC.
    assert.equal(result.expiresAt?.toISOString(), "2031-01-01T00:00:00.000Z");

    const none = await fetchCustomerCertificate("beta", {
      baseUrl: api.url,
      fetch: auth.fetch,
    });
    assert.equal(none, null);
  } finally {
    await api.close();
  }
});

Deno.test("fetchCustomerCertificate reports a 401", async () => {
  const api = await startReferenceApi({ generation: 2, users: [USER] });
  try {
    const error = await fetchCustomerCertificate("alpha", {
      baseUrl: api.url,
      authorizationHeader: "Bearer not-a-token",
    }).catch((e: unknown) => e);
    assert.ok(error instanceof CertificateError);
    assert.equal(error.status, 401);
    assert.match(error.message, /customer "alpha" returned 401/);
  } finally {
    await api.close();
  }
});

Deno.test("fetchCustomerCertificate sends the header", async () => {
  let header: string | null = null;
  await fetchCustomerCertificate("alpha", {
    baseUrl: "http://api.test/",
    authorizationHeader: "Bearer abc",
    fetch: (input, init) => {
      assert.equal(String(input), "http://api.test/api/certificates/alpha");
      header = new Headers(init?.headers).get("authorization");
      return Promise.resolve(new Response(null, { status: 404 }));
    },
  });
  assert.equal(header, "Bearer abc");
});

Deno.test("fetchCustomerCertificate rejects bad responses", async () => {
  const valid = {
    customerName: "alpha",
    certificateData: PFX_BASE64,
    thumbprint: "A1",
    expiresAt: "2031-01-01T00:00:00Z",
    password: PFX_PASSWORD,
  };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...valid, customerName: "beta" }, /certificate of customer "beta"/],
    [{ ...valid, certificateData: "%%%not base64" }, /not base64/],
    [{ ...valid, certificateData: "" }, /no certificateData/],
    [{ ...valid, password: 42 }, /password that is not a string/],
    [[valid], /not an object/],
  ];
  for (const [body, pattern] of cases) {
    const error = await fetchCustomerCertificate("alpha", {
      baseUrl: "http://api.test",
      fetch: stubFetch(body),
    }).catch((e: unknown) => e);
    assert.ok(error instanceof CertificateError, JSON.stringify(body));
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes(PFX_PASSWORD), error.message);
    assert.ok(!error.message.includes(PFX_BASE64.slice(0, 40)));
  }
});

Deno.test("fetchCustomerCertificate reads PascalCase", async () => {
  const result = await fetchCustomerCertificate("alpha", {
    baseUrl: "http://api.test",
    fetch: stubFetch({
      CustomerName: "ALPHA",
      CertificateData: PFX_BASE64,
      Thumbprint: "A1",
      ExpiresAt: "2031-01-01T00:00:00+01:00",
      Password: null,
    }),
  });
  assert.ok(result !== null);
  assert.equal(result.password, "");
  assert.equal(result.expiresAt?.toISOString(), "2030-12-31T23:00:00.000Z");
});

Deno.test("writeCertificateFile writes a private file", async () => {
  await withTempDirectory(async (parent) => {
    const file = await writeCertificateFile(certificate(), {
      parentDirectory: `${parent}/certificates`,
    });
    assert.ok(file.hostPath.startsWith("/"));
    assert.equal(file.hostPath, `${file.directory}/${CERTIFICATE_FILE_NAME}`);
    const name = file.directory.slice(file.directory.lastIndexOf("/") + 1);
    assert.ok(name.startsWith(CERTIFICATE_DIRECTORY_PREFIX), name);
    assert.equal((await Deno.stat(file.directory)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(file.hostPath)).mode! & 0o777, 0o600);
    assert.deepEqual(await Deno.readFile(file.hostPath), PFX_BYTES);
    assert.equal(file.password, PFX_PASSWORD);
    assert.equal(file.thumbprint, "A1B2C3");

    await file.remove();
    await assert.rejects(Deno.stat(file.directory), Deno.errors.NotFound);
    // A second call is harmless.
    await file.remove();
  });
});

Deno.test("writeCertificateFile sets a given mode", async () => {
  await withTempDirectory(async (parent) => {
    const file = await writeCertificateFile(certificate(), {
      parentDirectory: parent,
      fileMode: 0o644,
    });
    assert.equal((await Deno.stat(file.hostPath)).mode! & 0o777, 0o644);
    assert.equal((await Deno.stat(file.directory)).mode! & 0o777, 0o700);
    await file.remove();
    await assert.rejects(
      writeCertificateFile(certificate(), {
        parentDirectory: parent,
        fileMode: 0o1777,
      }),
      RangeError,
    );
  });
});

Deno.test("removeStaleCertificateDirectories keeps others", async () => {
  await withTempDirectory(async (parent) => {
    const first = await writeCertificateFile(certificate(), {
      parentDirectory: parent,
    });
    const second = await writeCertificateFile(certificate(), {
      parentDirectory: parent,
    });
    await Deno.mkdir(`${parent}/other`);
    await Deno.writeTextFile(
      `${parent}/${CERTIFICATE_DIRECTORY_PREFIX}file`,
      "",
    );

    const removed = await removeStaleCertificateDirectories(parent);
    assert.deepEqual(
      removed.sort(),
      [first.directory, second.directory].sort(),
    );
    const left = [];
    for await (const entry of Deno.readDir(parent)) left.push(entry.name);
    assert.deepEqual(left.sort(), [
      `${CERTIFICATE_DIRECTORY_PREFIX}file`,
      "other",
    ]);

    assert.deepEqual(
      await removeStaleCertificateDirectories(`${parent}/missing`),
      [],
    );
  });
});

Deno.test("certificateExpiryWarning covers the cases", () => {
  const now = Date.parse("2030-06-01T00:00:00Z");
  const at = (offsetMs: number) =>
    certificate({ expiresAt: new Date(now + offsetMs) });

  assert.equal(certificateExpiryWarning(at(31 * DAY_MS), { now }), null);
  assert.match(
    certificateExpiryWarning(at(12.5 * DAY_MS), { now }) ?? "",
    /^Certificate of customer alpha \(thumbprint A1B2C3\) expires in 12 days/,
  );
  assert.match(
    certificateExpiryWarning(at(1.5 * DAY_MS), { now }) ?? "",
    /expires in 1 day,/,
  );
  assert.match(
    certificateExpiryWarning(at(60_000), { now }) ?? "",
    /expires within a day/,
  );
  assert.match(
    certificateExpiryWarning(at(-DAY_MS), { now }) ?? "",
    /expired at 2030-05-31T00:00:00.000Z/,
  );
  assert.equal(
    certificateExpiryWarning(at(12 * DAY_MS), { now, warnDays: 7 }),
    null,
  );
  assert.match(
    certificateExpiryWarning(at(0), { now, warnDays: 0 }) ?? "",
    /expired/,
  );
  assert.equal(
    certificateExpiryWarning(certificate({ expiresAt: null }), { now }),
    null,
  );
  assert.throws(
    () => certificateExpiryWarning(at(0), { now, warnDays: -1 }),
    RangeError,
  );
});
