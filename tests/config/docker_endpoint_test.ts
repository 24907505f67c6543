import assert from "node:assert/strict";
import { parseDockerEndpoint } from "../../src/config/docker_endpoint.ts";

Deno.test("parseDockerEndpoint reads a unix socket", () => {
  const endpoint = parseDockerEndpoint("unix:///var/run/docker.sock");
  assert.deepEqual(endpoint, {
    kind: "unix",
    socketPath: "/var/run/docker.sock",
    text: "unix:///var/run/docker.sock",
  });
});

Deno.test("parseDockerEndpoint reads a named pipe", () => {
  const endpoint = parseDockerEndpoint("npipe://./pipe/docker_engine");
  assert.equal(endpoint.kind, "npipe");
  if (endpoint.kind === "npipe") {
    assert.equal(endpoint.pipePath, "\\\\.\\pipe\\docker_engine");
  }
});

Deno.test("parseDockerEndpoint reads tcp with and without scheme", () => {
  for (
    const text of [
      "tcp://10.0.0.5:2375",
      "10.0.0.5:2375",
      "tcp://10.0.0.5:2375/",
    ]
  ) {
    const endpoint = parseDockerEndpoint(text);
    assert.equal(endpoint.kind, "tcp", text);
    if (endpoint.kind !== "tcp") continue;
    assert.equal(endpoint.host, "10.0.0.5", text);
    assert.equal(endpoint.port, 2375, text);
  }
});

Deno.test("parseDockerEndpoint reads an IPv6 address", () => {
  const endpoint = parseDockerEndpoint("tcp://[::1]:2375");
  assert.equal(endpoint.kind, "tcp");
  if (endpoint.kind === "tcp") assert.equal(endpoint.host, "::1");
});

Deno.test("parseDockerEndpoint rejects bad addresses", () => {
  for (
    const text of [
      "ssh://host",
      "tcp://host",
      "unix://relative",
      "tcp://h:99999",
    ]
  ) {
    assert.throws(() => parseDockerEndpoint(text), TypeError, text);
  }
});
