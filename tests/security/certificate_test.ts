import assert from "node:assert/strict";
import type { CertificateRecord } from "../../src/reference_api/server.ts";
import { waitUntil } from "../support/daemon_process.ts";
import { logLines, waitForStatus, withHarness } from "../support/harness.ts";
import {
  base64,
  CUSTOMER,
  integration,
  secondGeneration,
  shellJob,
} from "./security_support.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const CERTIFICATE_PASSWORD = "cert-password-0d7a44";

// Random bytes stand in for a PFX file: the daemon copies them unread.
const certificateBytes = crypto.getRandomValues(new Uint8Array(2048));

function certificate(expiresInDays: number): CertificateRecord {
  return {
    certificateData: base64(certificateBytes),
    password: CERTIFICATE_PASSWORD,
    thumbprint: "3F2A9C1B7E4D6A8B0C2E4F6A8B0C2D4E6F8A0B1C",
    expiresAt: new Date(Date.now() + expiresInDays * DAY_MS).toISOString(),
  };
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return Array.from(new Uint8Array(digest))
    .map((byte) => byte.toString(16).padStart(2, "0"))
    .join("");
}

async function entriesOf(directory: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(directory)) names.push(entry.name);
  return names;
}

const CHECK_SCRIPT = "test -f /tmp/client-cert.pfx && " +
  "sha256sum /tmp/client-cert.pfx && " +
  'echo "pw=$CLIENT_CERT_PASSWORD path=$CLIENT_CERT_PATH" && ' +
  "stat -c %a /tmp/client-cert.pfx";

Deno.test({
  name: "certificate is mounted and removed",
  ...integration,
  fn: async () => {
    const options = secondGeneration({
      api: { certificates: { [CUSTOMER]: certificate(365) } },
    });
    await withHarness(options, async ({ api, stateDirectory }) => {
      const certificates = `${stateDirectory}/certificates`;
      const job = api.addJob(shellJob(CHECK_SCRIPT));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      const lines = logLines(api, job.id, "container");
      assert.equal(lines.length, 3, `unexpected output: ${lines.join(" | ")}`);
      assert.equal(
        lines[0],
        `${await sha256Hex(certificateBytes)}  /tmp/client-cert.pfx`,
      );
      assert.equal(lines[1], "pw=*** path=/tmp/client-cert.pfx");
      assert.equal(lines[2], "600");
      assert.ok(
        !JSON.stringify(api.logs(job.id)).includes(CERTIFICATE_PASSWORD),
      );
      const notes = logLines(api, job.id, "orchestrator").join("\n");
      assert.match(notes, /Customer certificate 3F2A9C1B.* mounted/);
      assert.deepEqual(logLines(api, job.id, "orchestrator", "Warning"), []);
      assert.deepEqual(await entriesOf(certificates), []);

      const failing = api.addJob(shellJob(`${CHECK_SCRIPT} && exit 1`));
      assert.equal(
        await waitForStatus(api, failing.id, ["Completed", "Failed"]),
        "Failed",
      );
      assert.equal(logLines(api, failing.id, "container").length, 3);
      assert.deepEqual(await entriesOf(certificates), []);
    });
  },
});

Deno.test({
  name: "certificate is removed after a timeout",
  ...integration,
  fn: async () => {
    const options = secondGeneration({
      settings: { "ContainerSettings:DefaultTimeout": "2" },
      api: { certificates: { [CUSTOMER]: certificate(365) } },
    });
    await withHarness(options, async ({ api, stateDirectory }) => {
      const certificates = `${stateDirectory}/certificates`;
      const job = api.addJob(shellJob("echo started; sleep 60"));
      // While the job runs, its private directory exists: this proves that
      // the emptiness checked afterwards is the daemon's doing.
      await waitUntil(
        () => logLines(api, job.id, "container").includes("started"),
        "the job's output",
      );
      assert.equal((await entriesOf(certificates)).length, 1);

      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Failed",
      );
      const errors = logLines(api, job.id, "orchestrator", "Error").join("\n");
      assert.match(errors, /timed out after 2 s/);
      assert.deepEqual(await entriesOf(certificates), []);
    });
  },
});

Deno.test({
  name: "certificate near expiry gives a warning",
  ...integration,
  fn: async () => {
    const options = secondGeneration({
      settings: { "CertificateSettings:WarnDays": "30" },
      api: { certificates: { [CUSTOMER]: certificate(5) } },
    });
    await withHarness(options, async ({ api }) => {
      const job = api.addJob(shellJob("test -f /tmp/client-cert.pfx"));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      const warnings = logLines(api, job.id, "orchestrator", "Warning");
      assert.equal(warnings.length, 1, warnings.join(" | "));
      assert.match(warnings[0], /Certificate of customer alpha/);
      assert.match(warnings[0], /expires in [45] days/);
    });
  },
});
