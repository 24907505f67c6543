import assert from "node:assert/strict";
import type { ReferenceApiEvent } from "../../src/reference_api/server.ts";
import { logLines, waitForStatus, withHarness } from "../support/harness.ts";
import {
  base64,
  CUSTOMER,
  ensureRegistry,
  integration,
  REGISTRY,
  removeImage,
  secondGeneration,
  shellJob,
  withLogCapture,
} from "./security_support.ts";

/** Secrets that must not leave the host unmasked, by where they come from. */
const MARKERS = {
  parameterPassword: "marker-param-a81f3c60",
  parameterSecret: "marker-secret-x-27b9d4",
  registryPassword: REGISTRY.password,
  certificatePassword: "marker-certpw-6e02bb",
  apiPassword: "marker-apipw-f4417a",
} as const;

/** A request as it reached the API, for the marker scan. */
interface RecordedRequest {
  method: string;
  pathAndQuery: string;
  headers: string;
  body: string;
}

/**
 * Serves on loopback, records every request, and forwards it to the
 * target once the target is known. Requests that arrive earlier wait.
 */
function startRecordingProxy(target: Promise<string>) {
  const requests: RecordedRequest[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const body = await request.text();
      requests.push({
        method: request.method,
        pathAndQuery: `${url.pathname}${url.search}`,
        headers: JSON.stringify([...request.headers]),
        body,
      });
      const headers = new Headers(request.headers);
      for (const name of ["host", "content-length", "connection"]) {
        headers.delete(name);
      }
      const response = await fetch(
        `${await target}${url.pathname}${url.search}`,
        {
          method: request.method,
          headers,
          body: body === "" ? undefined : body,
          redirect: "manual",
        },
      );
      return new Response(response.body, {
        status: response.status,
        headers: response.headers,
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** Lists each marker as written and as `base64` prints it. */
function markerForms(): Array<{ name: string; form: string }> {
  return Object.entries(MARKERS).flatMap(([name, value]) => [
    { name, form: value },
    {
      name: `${name} in base64`,
      form: base64(new TextEncoder().encode(value)),
    },
  ]);
}

function assertNoMarkers(where: string, text: string): void {
  for (const { name, form } of markerForms()) {
    assert.ok(!text.includes(form), `${where} contains the ${name} marker`);
  }
}

// The job prints every marker once as written and once in base64.
const PRINT_SCRIPT = 'for v in "$API_PASSWORD" "$SECRET_X" ' +
  '"$REGISTRY_COPY" "$CLIENT_CERT_PASSWORD" "$DAEMON_COPY"; do ' +
  'echo "plain:$v"; printf %s "$v" | base64 | sed "s/^/b64:/"; done';

Deno.test({
  name: "markers never leave the host",
  ...integration,
  fn: async () => {
    await ensureRegistry();
    const events: ReferenceApiEvent[] = [];
    const target = Promise.withResolvers<string>();
    const proxy = startRecordingProxy(target.promise);
    const options = secondGeneration({
      events,
      password: MARKERS.apiPassword,
      settings: {
        "ApiSettings:BaseUrl": proxy.url,
        // The echo goes to the daemon's own log, which is scanned too.
        "LogSettings:EchoContainerOutput": "true",
      },
      api: {
        users: [{
          username: "iam-orchestrator",
          password: MARKERS.apiPassword,
          role: "Orchestrator",
        }],
        certificates: {
          [CUSTOMER]: {
            certificateData: base64(new TextEncoder().encode("not a pfx")),
            password: MARKERS.certificatePassword,
            thumbprint: "0123456789ABCDEF0123456789ABCDEF01234567",
            expiresAt: new Date(Date.now() + 3_650 * 86_400_000)
              .toISOString(),
          },
        },
      },
    });
    try {
      await withLogCapture(async (capture) => {
        await withHarness(options, async ({ api, docker }) => {
          target.resolve(api.url);
          await removeImage(docker, REGISTRY.pulledImage);
          const job = api.addJob(shellJob(PRINT_SCRIPT, {
            containerImage: REGISTRY.image,
            registryServer: REGISTRY.server,
            registryUsername: REGISTRY.username,
            registryPassword: REGISTRY.password,
            parameters: {
              RUN: PRINT_SCRIPT,
              API_PASSWORD: MARKERS.parameterPassword,
              SECRET_X: MARKERS.parameterSecret,
              // Names that do not look secret: only the registry password
              // and the daemon's own password can mask these values.
              REGISTRY_COPY: MARKERS.registryPassword,
              DAEMON_COPY: MARKERS.apiPassword,
            },
          }));
          assert.equal(
            await waitForStatus(api, job.id, ["Completed", "Failed"]),
            "Completed",
          );
          // Ten lines arrived, so the markers were printed and masked.
          const lines = logLines(api, job.id, "container");
          assert.deepEqual(
            lines,
            Array.from(
              { length: 5 },
              () => ["plain:***", "b64:***"],
            ).flat(),
          );
          assertNoMarkers(
            "the API's log entries",
            JSON.stringify(api.logs(job.id)),
          );
        });
        const daemonLog = capture.text();
        assertNoMarkers("the daemon's log", daemonLog);
        assert.match(daemonLog, /plain:\*\*\*/);
      });
      assertNoMarkers("the API's events", JSON.stringify(events));

      assert.ok(proxy.requests.length > 0);
      let logins = 0;
      for (const request of proxy.requests) {
        const where = `${request.method} ${request.pathAndQuery}`;
        assertNoMarkers(where, request.pathAndQuery);
        assertNoMarkers(`the headers of ${where}`, request.headers);
        if (request.pathAndQuery === "/api/auth/login") {
          // The password belongs in the login body and nowhere else.
          logins++;
          assert.ok(request.body.includes(MARKERS.apiPassword));
          assertNoMarkers(
            `the body of ${where}`,
            request.body.replace(MARKERS.apiPassword, ""),
          );
        } else {
          assertNoMarkers(`the body of ${where}`, request.body);
        }
      }
      assert.ok(logins >= 1);
    } finally {
      await proxy.close();
    }
  },
});
