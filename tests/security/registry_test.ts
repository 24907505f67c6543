import assert from "node:assert/strict";
import type { ReferenceApiEvent } from "../../src/reference_api/server.ts";
import {
  type Harness,
  type HarnessOptions,
  logLines,
  waitForStatus,
  withHarness,
} from "../support/harness.ts";
import {
  base64,
  CUSTOMER,
  ensureRegistry,
  hasImage,
  integration,
  REGISTRY,
  removeImage,
  secondGeneration,
  shellJob,
  withLogCapture,
} from "./security_support.ts";

const WRONG_PASSWORD = "wrong-registry-password-91ab";

function registryJob(password: string) {
  return shellJob("echo pulled and running", {
    containerImage: REGISTRY.image,
    registryServer: REGISTRY.server,
    registryUsername: REGISTRY.username,
    registryPassword: password,
  });
}

/**
 * Starts the registry, then runs `body` with a daemon whose engine has no
 * copy of the registry's image, so that the job must pull it.
 */
async function withRegistry(
  events: ReferenceApiEvent[],
  body: (harness: Harness, daemonLog: () => string) => Promise<void>,
  api: HarnessOptions["api"] = {},
): Promise<void> {
  await ensureRegistry();
  await withLogCapture(async (capture) => {
    const options = secondGeneration({ events, api });
    await withHarness(options, async (harness) => {
      await removeImage(harness.docker, REGISTRY.pulledImage);
      await body(harness, capture.text);
    });
  });
}

/** Fails when a password appears in a job's log or the daemon's log. */
function assertNoPasswords(
  harness: Harness,
  jobId: string,
  daemonLog: string,
): void {
  const entries = JSON.stringify(harness.api.logs(jobId));
  for (const password of [REGISTRY.password, WRONG_PASSWORD]) {
    assert.ok(
      !entries.includes(password),
      `job log entries contain the registry password "${password}"`,
    );
    assert.ok(
      !daemonLog.includes(password),
      `daemon log contains the registry password "${password}"`,
    );
  }
}

Deno.test({
  name: "registry pull with good credentials",
  ...integration,
  fn: () => {
    const events: ReferenceApiEvent[] = [];
    return withRegistry(events, async (harness, daemonLog) => {
      const { api, docker } = harness;
      assert.equal(await hasImage(docker, REGISTRY.pulledImage), false);
      const job = api.addJob(registryJob(REGISTRY.password));

      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), [
        "pulled and running",
      ]);
      assert.equal(await hasImage(docker, REGISTRY.pulledImage), true);
      assert.equal(
        events.some((event) => event.type === "credentialsRefreshed"),
        false,
      );
      assertNoPasswords(harness, job.id, daemonLog());
    });
  },
});

Deno.test({
  name: "registry refresh replaces wrong credentials",
  ...integration,
  fn: () => {
    const events: ReferenceApiEvent[] = [];
    return withRegistry(events, async (harness, daemonLog) => {
      const { api } = harness;
      const job = api.addJob(registryJob(WRONG_PASSWORD));
      api.setRegistryCredentials(job.id, {
        registryServer: REGISTRY.server,
        registryUsername: REGISTRY.username,
        registryPassword: REGISTRY.password,
      });

      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), [
        "pulled and running",
      ]);
      const warnings = logLines(api, job.id, "orchestrator", "Warning")
        .join("\n");
      assert.match(warnings, /asking the IAM API for new registry credentials/);
      assert.equal(
        events.filter((event) => event.type === "credentialsRefreshed").length,
        1,
      );
      assertNoPasswords(harness, job.id, daemonLog());
    });
  },
});

Deno.test({
  name: "registry refresh with wrong credentials fails",
  ...integration,
  fn: () => {
    const events: ReferenceApiEvent[] = [];
    return withRegistry(events, async (harness, daemonLog) => {
      const { api } = harness;
      const job = api.addJob(registryJob(WRONG_PASSWORD));
      api.setRegistryCredentials(job.id, {
        registryServer: REGISTRY.server,
        registryUsername: REGISTRY.username,
        registryPassword: `${WRONG_PASSWORD}-again`,
      });

      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Failed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), []);
      assert.equal(
        events.filter((event) => event.type === "credentialsRefreshed").length,
        1,
      );
      const errors = logLines(api, job.id, "orchestrator", "Error").join("\n");
      assert.match(errors, /Pulling image 127\.0\.0\.1:5000\/iam\/busybox:1/);
      // The reason must state that the refreshed credentials failed too, not
      // only that the pull failed.
      assert.match(errors, /refresh/i);
      assertNoPasswords(harness, job.id, daemonLog());
      assert.ok(
        !JSON.stringify(api.logs(job.id)).includes(`${WRONG_PASSWORD}-again`),
      );
    });
  },
});

Deno.test({
  name: "registry refresh rejected with 400 fails",
  ...integration,
  fn: () => {
    const events: ReferenceApiEvent[] = [];
    return withRegistry(events, async (harness, daemonLog) => {
      const { api } = harness;
      const job = api.addJob(registryJob(WRONG_PASSWORD));
      // Once the daemon marks the job Running, the server finishes it, as
      // an operator cancelling it would: the refresh then gets a 400.
      let finishedByServer = false;
      events.push = (...added: ReferenceApiEvent[]) => {
        for (const event of added) {
          if (
            !finishedByServer && event.type === "statusChanged" &&
            event.jobId === job.id && event.to === "Running"
          ) {
            finishedByServer = true;
            api.setJob(job.id, { status: "Completed" });
          }
        }
        return Array.prototype.push.apply(events, added);
      };

      assert.equal(await waitForStatus(api, job.id, ["Failed"]), "Failed");
      assert.equal(finishedByServer, true);
      assert.equal(
        events.some((event) => event.type === "credentialsRefreshed"),
        false,
      );
      const errors = logLines(api, job.id, "orchestrator", "Error").join("\n");
      assert.match(errors, /refreshing the registry credentials failed/);
      assert.match(errors, /400/);
      assertNoPasswords(harness, job.id, daemonLog());
    });
  },
});

Deno.test({
  name: "registry refresh keeps the certificate masked",
  ...integration,
  fn: () => {
    const certificatePassword = "cert-password-after-refresh-83d1";
    const certificate = {
      certificateData: base64(new TextEncoder().encode("not a pfx")),
      password: certificatePassword,
      thumbprint: "0123456789ABCDEF0123456789ABCDEF01234567",
      expiresAt: new Date(Date.now() + 365 * 86_400_000).toISOString(),
    };
    const events: ReferenceApiEvent[] = [];
    return withRegistry(events, async (harness, daemonLog) => {
      const { api } = harness;
      const job = api.addJob({
        ...registryJob(WRONG_PASSWORD),
        parameters: { RUN: 'echo "pw=$CLIENT_CERT_PASSWORD"' },
      });
      api.setRegistryCredentials(job.id, {
        registryServer: REGISTRY.server,
        registryUsername: REGISTRY.username,
        registryPassword: REGISTRY.password,
      });

      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.equal(
        events.filter((event) => event.type === "credentialsRefreshed").length,
        1,
      );
      assert.deepEqual(logLines(api, job.id, "container"), ["pw=***"]);
      assert.ok(!daemonLog().includes(certificatePassword));
    }, { certificates: { [CUSTOMER]: certificate } });
  },
});
