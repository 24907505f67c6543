import assert from "node:assert/strict";
import { startReferenceApi } from "../../src/reference_api/server.ts";
import { spawnDaemon, waitUntil } from "../support/daemon_process.ts";
import { logLines, waitForStatus, withHarness } from "../support/harness.ts";
import { TEST_IMAGE } from "../support/jobs.ts";
import { ensureSwarm, leaveSwarmIfCreated } from "../setup/swarm.ts";
import {
  ensureRegistry,
  REGISTRY,
  removeImage,
} from "../security/security_support.ts";

const integration = { sanitizeOps: false, sanitizeResources: false };

const SWARM = {
  "ContainerSettings:Backend": "Swarm",
  "ContainerSettings:StopGraceSeconds": "1",
};

Deno.test({
  name: "daemon runs jobs as swarm services",
  ...integration,
  fn: async () => {
    await ensureSwarm();
    try {
      await withHarness({ settings: SWARM }, async ({ api, docker }) => {
        const good = api.addJob({
          name: "swarm ok",
          customer: "alpha",
          containerImage: TEST_IMAGE,
          jobType: "OneOff",
          parameters: { RUN: "echo out; echo err >&2; echo $CUSTOMER" },
        });
        const bad = api.addJob({
          name: "swarm exit 3",
          customer: "alpha",
          containerImage: TEST_IMAGE,
          jobType: "OneOff",
          parameters: { RUN: "exit 3" },
        });
        assert.equal(
          await waitForStatus(api, good.id, ["Completed", "Failed"]),
          "Completed",
        );
        assert.deepEqual(logLines(api, good.id, "container", "Info"), [
          "out",
          "alpha",
        ]);
        assert.deepEqual(logLines(api, good.id, "container", "Error"), ["err"]);
        assert.equal(
          await waitForStatus(api, bad.id, ["Completed", "Failed"]),
          "Failed",
        );
        const notes = logLines(api, bad.id, "orchestrator").join("\n");
        assert.match(notes, /exited with code 3/);
        await waitUntil(
          async () =>
            (await docker.listServices({
              filters: { label: [`io.iam-orchestrator.job-id=${good.id}`] },
            })).length === 0,
          "the service to be removed",
        );
      });
    } finally {
      await leaveSwarmIfCreated();
    }
  },
});

Deno.test({
  name: "daemon resumes a swarm service after a crash",
  ...integration,
  fn: async () => {
    await ensureSwarm();
    const api = await startReferenceApi({});
    const stateDirectory = await Deno.makeTempDir({ prefix: "iam-swarm-" });
    const settings = {
      ...SWARM,
      "ApiSettings:BaseUrl": api.url,
      "ApiSettings:PollingIntervalSeconds": "0.1",
      "OrchestratorSettings:StateDirectory": stateDirectory,
      "LogSettings:FlushIntervalMs": "20",
    };
    let daemon = spawnDaemon(settings);
    try {
      const job = api.addJob({
        name: "long swarm job",
        customer: "alpha",
        containerImage: TEST_IMAGE,
        jobType: "OneOff",
        parameters: {
          RUN: "for i in $(seq 1 40); do echo line $i; sleep 0.1; done",
        },
      });
      await waitUntil(
        () => logLines(api, job.id, "container").length >= 5,
        "the first lines of the job",
      );
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      daemon = spawnDaemon(settings);
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      const expected = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
      assert.deepEqual(logLines(api, job.id, "container"), expected);
      const notes = logLines(api, job.id, "orchestrator").join("\n");
      assert.match(notes, /resumes container/);
    } finally {
      daemon.child.kill("SIGTERM");
      await daemon.exited;
      await api.close();
      await Deno.remove(stateDirectory, { recursive: true });
      await leaveSwarmIfCreated();
    }
  },
});

Deno.test({
  name: "daemon pulls a swarm job's image with its credentials",
  ...integration,
  fn: async () => {
    await ensureRegistry();
    await ensureSwarm();
    try {
      await withHarness({ settings: SWARM }, async ({ api, docker }) => {
        // Without the local copy, the task must pull with the job's login.
        await removeImage(docker, REGISTRY.pulledImage);
        const job = api.addJob({
          name: "swarm private image",
          customer: "alpha",
          containerImage: REGISTRY.image,
          registryServer: REGISTRY.server,
          registryUsername: REGISTRY.username,
          registryPassword: REGISTRY.password,
          jobType: "OneOff",
          parameters: { RUN: "echo pulled" },
        });
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
        );
        assert.deepEqual(logLines(api, job.id, "container"), ["pulled"]);
        for (const entry of api.logs(job.id)) {
          assert.ok(!entry.message.includes(REGISTRY.password));
        }
      });
    } finally {
      await leaveSwarmIfCreated();
    }
  },
});
