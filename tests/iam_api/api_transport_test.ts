import assert from "node:assert/strict";
import {
  createApiFetch,
  insecureTransportWarning,
} from "../../src/iam_api/api_transport.ts";

// A CA and a server certificate for 127.0.0.1 and localhost, valid for 100
// years, made with openssl for these tests only (P-256 keys).
const FIXTURES = new URL("./fixtures/", import.meta.url);
const CA_FILE = new URL("test_ca.pem", FIXTURES).pathname;

Deno.test("insecureTransportWarning flags remote plain HTTP", () => {
  for (
    const url of [
      "http://localhost:5000",
      "http://127.0.0.1:5000",
      "http://[::1]:5000",
      "https://iam.example.test",
    ]
  ) {
    assert.equal(insecureTransportWarning(url), null, url);
  }
  const warning = insecureTransportWarning("http://iam.example.test:5000");
  assert.match(warning ?? "", /http:\/\/iam\.example\.test:5000 is plain HTTP/);
});

Deno.test("createApiFetch trusts the given CA", async () => {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(new URL("test_server.pem", FIXTURES)),
    key: await Deno.readTextFile(new URL("test_server.key", FIXTURES)),
    onListen: () => {},
  }, () => new Response("ok"));
  const url = `https://127.0.0.1:${server.addr.port}/`;
  const transport = await createApiFetch(CA_FILE);
  try {
    const response = await transport.fetch(url);
    assert.equal(await response.text(), "ok");
    // Without the CA the same server is not trusted.
    await assert.rejects(fetch(url));
  } finally {
    transport.close();
    await server.shutdown();
  }
});

Deno.test("createApiFetch names a bad CA file", async () => {
  await assert.rejects(
    createApiFetch("/tmp/api_transport_test_missing.pem"),
    /ApiSettings:CaCertFile "\/tmp\/api_transport_test_missing.pem"/,
  );
  await assert.rejects(
    createApiFetch("/ca.pem", { readTextFile: () => Promise.resolve("x") }),
    /contains no PEM certificate/,
  );
});
