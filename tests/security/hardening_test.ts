import assert from "node:assert/strict";
import { waitUntil } from "../support/daemon_process.ts";
import {
  containersOfJob,
  logLines,
  waitForStatus,
  withHarness,
} from "../support/harness.ts";
import { integration, secondGeneration, shellJob } from "./security_support.ts";

const MIB = 1024 * 1024;

Deno.test({
  name: "hardening reaches the job container",
  ...integration,
  fn: async () => {
    const options = secondGeneration({
      settings: {
        "ContainerSettings:MemoryLimitMb": "64",
        "ContainerSettings:CpuLimit": "0.5",
        "ContainerSettings:PidsLimit": "100",
        "ContainerSettings:NoNewPrivileges": "true",
      },
    });
    await withHarness(options, async ({ api, docker }) => {
      const job = api.addJob(shellJob("echo sleeping; sleep 3"));
      await waitUntil(
        () => logLines(api, job.id, "container").includes("sleeping"),
        "the job's output",
      );
      const [container] = await containersOfJob(docker, job.id);
      assert.ok(container !== undefined, "no container has the job's label");
      const { HostConfig } = await docker.getContainer(container.Id)
        .inspect();
      assert.ok(
        (HostConfig.SecurityOpt ?? []).some((option: string) =>
          /^no-new-privileges(:true)?$/.test(option)
        ),
        `SecurityOpt is ${JSON.stringify(HostConfig.SecurityOpt)}`,
      );
      assert.equal(HostConfig.Privileged, false);
      assert.equal(HostConfig.Memory, 64 * MIB);
      assert.equal(HostConfig.MemorySwap, 64 * MIB);
      assert.equal(HostConfig.NanoCpus, 500_000_000);
      assert.equal(HostConfig.PidsLimit, 100);

      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
    });
  },
});

Deno.test({
  name: "hardening names the memory limit",
  ...integration,
  fn: async () => {
    const options = secondGeneration({
      settings: { "ContainerSettings:MemoryLimitMb": "16" },
    });
    await withHarness(options, async ({ api }) => {
      // tail keeps the whole 100 MiB line in memory, past the 16 MiB limit.
      const job = api.addJob(shellJob("head -c 100m /dev/zero | tail"));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Failed",
      );
      const errors = logLines(api, job.id, "orchestrator", "Error").join("\n");
      assert.match(errors, /memory limit of 16 MiB/);
      assert.match(errors, /ContainerSettings:MemoryLimitMb/);
    });
  },
});
