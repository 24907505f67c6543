import assert from "node:assert/strict";
import type { JobInput } from "../../src/reference_api/server.ts";
import { TEST_IMAGE } from "../support/jobs.ts";
import { waitUntil } from "../support/daemon_process.ts";
import {
  containersOfJob,
  logLines,
  waitForStatus,
  withHarness,
} from "../support/harness.ts";

// The daemon's engine connections and timers outlive a single test step.
const integration = { sanitizeOps: false, sanitizeResources: false };

function shellJob(script: string, extra: JobInput = {}): JobInput {
  return {
    name: "shell job",
    customer: "alpha",
    containerImage: TEST_IMAGE,
    jobType: "OneOff",
    parameters: { RUN: script },
    ...extra,
  };
}

Deno.test({
  name: "daemon runs a job that succeeds",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api, docker }) => {
      const job = api.addJob(shellJob(
        'echo "job $JOB_ID for $CUSTOMER what-if=$WHAT_IF"; echo two',
        { isWhatIf: true },
      ));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), [
        `job ${job.id} for alpha what-if=True`,
        "two",
      ]);
      const notes = logLines(api, job.id, "orchestrator").join("\n");
      assert.match(notes, /Image: iam-orchestrator-test\/busybox:latest/);
      assert.match(notes, /Container [0-9a-f]{12} started/);
      assert.match(notes, /exited with code 0/);
      await waitUntil(
        async () => (await containersOfJob(docker, job.id)).length === 0,
        "the container to be removed",
      );
    }),
});

Deno.test({
  name: "daemon fails a job that exits 3",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      const job = api.addJob(shellJob("echo bad >&2; exit 3"));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Failed",
      );
      assert.deepEqual(logLines(api, job.id, "container", "Error"), ["bad"]);
      const notes = logLines(api, job.id, "orchestrator").join("\n");
      assert.match(notes, /exited with code 3/);
    }),
});

Deno.test({
  name: "daemon keeps stdout and stderr order and levels",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      // Pauses between writes keep the engine's two pipes in a known order.
      const job = api.addJob(shellJob(
        "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; " +
          "sleep 0.2; echo err2 >&2; sleep 0.2; printf 'no newline'",
      ));
      await waitForStatus(api, job.id, ["Completed", "Failed"]);
      const container = api.logs(job.id)
        .filter((entry) => entry.source === "container")
        .flatMap((entry) =>
          entry.message.split("\n").map((line) => `${entry.level}:${line}`)
        );
      assert.deepEqual(container, [
        "Info:out1",
        "Error:err1",
        "Info:out2",
        "Error:err2",
        "Info:no newline",
      ]);
    }),
});

Deno.test({
  name: "daemon reads output of a job that exits at once",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      const job = api.addJob(shellJob("printf 'only line'"));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), ["only line"]);
    }),
});

Deno.test({
  name: "daemon stops a job at its timeout",
  ...integration,
  fn: () =>
    withHarness(
      { settings: { "ContainerSettings:DefaultTimeout": "2" } },
      async ({ api, docker }) => {
        const job = api.addJob(shellJob("echo started; sleep 60"));
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Failed",
        );
        assert.deepEqual(logLines(api, job.id, "container"), ["started"]);
        const notes = logLines(api, job.id, "orchestrator").join("\n");
        assert.match(notes, /timed out after 2 s/);
        // The container is removed right after the final status is sent.
        await waitUntil(
          async () => (await containersOfJob(docker, job.id)).length === 0,
          "the timed-out container to be removed",
        );
      },
    ),
});

Deno.test({
  name: "daemon fails a job whose image does not exist",
  ...integration,
  fn: () =>
    withHarness(
      { settings: { "ContainerSettings:PullPolicy": "Never" } },
      async ({ api }) => {
        const job = api.addJob(
          shellJob("true", { containerImage: "iam-orchestrator-test/none:1" }),
        );
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Failed",
        );
        const notes = logLines(api, job.id, "orchestrator").join("\n");
        assert.match(
          notes,
          /iam-orchestrator-test\/none:1 is not on the engine/,
        );
      },
    ),
});

Deno.test({
  name: "daemon fails a job whose image cannot be pulled",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      // Port 9 on loopback has no registry, so the pull fails at once.
      const job = api.addJob(
        shellJob("true", { containerImage: "127.0.0.1:9/none:1" }),
      );
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Failed",
      );
      const notes = logLines(api, job.id, "orchestrator").join("\n");
      assert.match(notes, /Pulling image 127\.0\.0\.1:9\/none:1 failed/);
    }),
});

Deno.test({
  name: "daemon runs only its customer's jobs",
  ...integration,
  fn: () =>
    withHarness(
      { settings: { "CustomerSettings:CustomerName": "alpha" } },
      async ({ api }) => {
        const beta = api.addJob(shellJob("echo beta", { customer: "beta" }));
        const alpha = api.addJob(shellJob("echo alpha"));
        await waitForStatus(api, alpha.id, ["Completed"]);
        // The poll for alpha never lists the beta job, so it stays Pending.
        assert.equal(api.getJob(beta.id)?.status, "Pending");
        assert.deepEqual(logLines(api, beta.id, "container"), []);
      },
    ),
});

Deno.test({
  name: "daemon fails a malformed job and runs the next",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      const bad = api.addJob(
        shellJob("echo never", { parameters: { "BAD NAME": "x" } }),
      );
      const good = api.addJob(shellJob("echo good"));
      assert.equal(
        await waitForStatus(api, good.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.equal(
        await waitForStatus(api, bad.id, ["Completed", "Failed"]),
        "Failed",
      );
      const notes = logLines(api, bad.id, "orchestrator").join("\n");
      assert.match(notes, /"BAD NAME" cannot be an environment variable/);
    }),
});

Deno.test({
  name: "daemon runs a job with a short secret",
  ...integration,
  fn: () =>
    withHarness({}, async ({ api }) => {
      // Too short to mask without ruining the output; the job still runs.
      const job = api.addJob(shellJob("", {
        parameters: { RUN: "echo key=$API_KEY", API_KEY: "k1" },
      }));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      const notes = api.logs(job.id).filter((entry) =>
        entry.source === "orchestrator" && entry.level === "Warning"
      ).map((entry) => entry.message).join("\n");
      assert.match(notes, /Not masking API_KEY/);
    }),
});
