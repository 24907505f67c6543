import assert from "node:assert/strict";
import { parseDockerEndpoint } from "../../src/config/docker_endpoint.ts";
import {
  EngineApiError,
  EngineClient,
  EngineError,
  formatQuery,
  registryAuthHeader,
} from "../../src/runtime/engine_client.ts";
import { NodeHttpTransport } from "../../src/runtime/node_http_transport.ts";
import { TEST_IMAGE } from "../support/jobs.ts";

const SOCKET = "/var/run/docker.sock";
const endpoint = parseDockerEndpoint(`unix://${SOCKET}`);

Deno.test("formatQuery leaves out undefined and writes booleans as 1 and 0", () => {
  assert.equal(formatQuery(undefined), "");
  assert.equal(formatQuery({ since: undefined }), "");
  assert.equal(
    formatQuery({ follow: true, all: false, t: 10, name: "a b&c" }),
    "?follow=1&all=0&t=10&name=a+b%26c",
  );
});

Deno.test("registryAuthHeader is URL-safe base64 of the credentials", () => {
  const header = registryAuthHeader({
    username: "user",
    // Bytes that give + and / in plain base64.
    password: "p>>>?ass",
    serveraddress: "127.0.0.1:5000",
  });
  const json = atob(header.replaceAll("-", "+").replaceAll("_", "/"));
  assert.match(btoa(json), /[+/]/);
  assert.doesNotMatch(header, /[+/]/);
  assert.deepEqual(JSON.parse(json), {
    username: "user",
    password: "p>>>?ass",
    serveraddress: "127.0.0.1:5000",
  });
});

Deno.test("EngineClient reads the engine's version over its socket", async () => {
  const client = new EngineClient(endpoint);
  try {
    const version = await client.json<{ ApiVersion: string }>(
      "GET",
      "/version",
    );
    assert.match(version.ApiVersion, /^1\.\d+$/);
  } finally {
    await client.close();
  }
});

Deno.test("EngineClient raises the engine's message and status", async () => {
  const client = new EngineClient(endpoint);
  try {
    const error = await client.send("GET", "/containers/no-such-container/json")
      .then(() => null, (caught: unknown) => caught);
    assert.ok(error instanceof EngineApiError);
    assert.equal(error.status, 404);
    assert.match(error.message, /no-such-container/);
  } finally {
    await client.close();
  }
});

Deno.test("EngineClient returns 304 for a start of a started container", async () => {
  const client = new EngineClient(endpoint);
  let id: string | null = null;
  try {
    id = (await client.json<{ Id: string }>("POST", "/containers/create", {
      body: { Image: TEST_IMAGE, Cmd: ["sleep", "30"], Entrypoint: [] },
    })).Id;
    assert.equal(await client.send("POST", `/containers/${id}/start`), 204);
    assert.equal(await client.send("POST", `/containers/${id}/start`), 304);
  } finally {
    if (id !== null) {
      await client.send("DELETE", `/containers/${id}`, {
        query: { force: true },
      });
    }
    await client.close();
  }
});

Deno.test("NodeHttpTransport carries requests and errors as fetch does", async () => {
  const client = new EngineClient(endpoint, {
    transport: new NodeHttpTransport(SOCKET),
  });
  try {
    const version = await client.json<{ ApiVersion: string }>(
      "GET",
      "/version",
    );
    assert.match(version.ApiVersion, /^1\.\d+$/);
    const containers = await client.json<unknown[]>(
      "GET",
      "/containers/json",
      { query: { all: true, filters: JSON.stringify({ label: ["x=y"] }) } },
    );
    assert.ok(Array.isArray(containers));
    const error = await client.send("DELETE", "/containers/no-such-container")
      .then(() => null, (caught: unknown) => caught);
    assert.ok(error instanceof EngineApiError);
    assert.equal(error.status, 404);
  } finally {
    await client.close();
  }
});

Deno.test("EngineClient names a missing TLS file and DOCKER_CERT_PATH", async () => {
  const directory = await Deno.makeTempDir();
  try {
    assert.throws(
      () =>
        new EngineClient(
          parseDockerEndpoint("tcp://127.0.0.1:2376", {
            certPath: directory,
            verify: true,
          }),
        ),
      (error: unknown) =>
        error instanceof EngineError &&
        error.message.includes(`${directory}/ca.pem`) &&
        error.message.includes("DOCKER_CERT_PATH"),
    );
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
