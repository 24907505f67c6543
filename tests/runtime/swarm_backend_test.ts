import assert from "node:assert/strict";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { LABELS } from "../../src/execution/job_labels.ts";
import { FrameDemuxer } from "../../src/log_shipping/frame_demuxer.ts";
import type {
  RunHandle,
  RunSpec,
} from "../../src/runtime/execution_backend.ts";
import { parseImageReference } from "../../src/runtime/image_reference.ts";
import {
  SwarmBackend,
  type SwarmBackendOptions,
} from "../../src/runtime/swarm_backend.ts";
import {
  buildServiceSpec,
  SWARM_RUN_LABEL,
} from "../../src/runtime/swarm_service_spec.ts";
import { judgeTask } from "../../src/runtime/swarm_task_state.ts";
import { ensureSwarm, leaveSwarmIfCreated } from "../setup/swarm.ts";

const TEST_IMAGE = "iam-orchestrator-test/busybox:latest";
const decoder = new TextDecoder();

// dockerode keeps sockets and timers beyond a single step.
const engineTest = { sanitizeOps: false, sanitizeResources: false };

function runSpec(script: string, extra: Partial<RunSpec> = {}): RunSpec {
  const jobId = crypto.randomUUID();
  return {
    name: `iam-job-${jobId.slice(0, 8)}-${crypto.randomUUID().slice(0, 8)}`,
    image: TEST_IMAGE,
    env: [`RUN=${script}`],
    labels: {
      [LABELS.managedBy]: "iam-orchestrator",
      [LABELS.orchestratorId]: "swarm-test",
      [LABELS.jobId]: jobId,
    },
    ...extra,
  };
}

/** Reads a run's output to its end as `stream:line` entries. */
async function readLines(run: RunHandle): Promise<string[]> {
  const demuxer = new FrameDemuxer();
  const text = { stdout: "", stderr: "" };
  const lines: string[] = [];
  const take = (stream: "stdout" | "stderr", final: boolean) => {
    const parts = text[stream].split("\n");
    text[stream] = final ? "" : parts.pop() ?? "";
    for (const line of parts) if (line !== "") lines.push(`${stream}:${line}`);
  };
  for await (const chunk of run.output()) {
    for (const frame of demuxer.push(chunk)) {
      assert.notEqual(frame.stream, "system");
      if (frame.stream === "system") continue;
      text[frame.stream] += decoder.decode(frame.payload);
      take(frame.stream, false);
    }
  }
  assert.equal(demuxer.end(), null);
  take("stdout", true);
  take("stderr", true);
  return lines;
}

/** Asserts that no service, secret or task container of the run is left. */
async function assertNothingLeft(docker: Docker, spec: RunSpec) {
  const services = await docker.listServices({
    filters: { name: [spec.name] },
  });
  assert.deepEqual(services.map((service) => service.Spec?.Name), []);
  const secrets = await docker.listSecrets({
    filters: { label: [`${SWARM_RUN_LABEL}=${spec.name}`] },
  });
  assert.deepEqual(secrets.map((secret) => secret.Spec?.Name), []);
  // The node removes the task's container shortly after the service.
  let containers: Docker.ContainerInfo[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.jobId}=${spec.labels[LABELS.jobId]}`] },
    });
    if (containers.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.deepEqual(containers.map((container) => container.Names), []);
}

Deno.test("buildServiceSpec makes a one-task job without restarts", () => {
  const spec = buildServiceSpec(runSpec("true"), {
    placement: ["node.labels.customer==alpha"],
    resources: { memoryBytes: 64 * 1024 * 1024, nanoCpus: 5e8, pidsLimit: 64 },
    secrets: [{ id: "s1", name: "n1", containerPath: "/certs/c.pfx" }],
    stopGraceSeconds: 3,
  });
  assert.deepEqual(spec.Mode, {
    ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 },
  });
  assert.deepEqual(spec.TaskTemplate?.RestartPolicy, {
    Condition: "none",
    MaxAttempts: 0,
  });
  assert.deepEqual(spec.TaskTemplate?.Placement, {
    Constraints: ["node.labels.customer==alpha"],
  });
  assert.deepEqual(spec.TaskTemplate?.Resources, {
    Limits: { MemoryBytes: 64 * 1024 * 1024, NanoCPUs: 5e8, Pids: 64 },
  });
  const container = spec.TaskTemplate?.ContainerSpec;
  assert.equal(container?.StopGracePeriod, 3_000_000_000);
  assert.deepEqual(container?.Secrets, [{
    SecretID: "s1",
    SecretName: "n1",
    File: { Name: "/certs/c.pfx", UID: "0", GID: "0", Mode: 0o400 },
  }]);
  assert.deepEqual(container?.Labels, spec.Labels);
});

Deno.test("buildServiceSpec leaves out empty placement and limits", () => {
  const spec = buildServiceSpec(runSpec("true"));
  assert.equal(spec.TaskTemplate?.Placement, undefined);
  assert.equal(spec.TaskTemplate?.Resources, undefined);
  assert.equal(spec.TaskTemplate?.ContainerSpec?.Secrets, undefined);
});

Deno.test("judgeTask reads exit codes of final states", () => {
  const bounds = { unscheduledSeconds: 0, unschedulableTimeoutSeconds: 60 };
  const container = { ContainerID: "c1", ExitCode: 3 };
  assert.deepEqual(
    judgeTask({
      ID: "t",
      Status: {
        State: "failed",
        Err: "task: non-zero exit (3)",
        ContainerStatus: container,
      },
    }, bounds),
    { ended: true, exitCode: 3, error: null, containerId: "c1" },
  );
  assert.deepEqual(
    judgeTask({
      ID: "t",
      Status: { State: "rejected", Err: "No such image: x" },
    }, bounds),
    {
      ended: true,
      exitCode: -1,
      error: "Task rejected: No such image: x",
      containerId: null,
    },
  );
  assert.deepEqual(
    judgeTask({ ID: "t", Status: { State: "running" } }, bounds),
    { ended: false },
  );
});

Deno.test("judgeTask ends an unscheduled task at the bound", () => {
  const task = {
    ID: "t1",
    Status: { State: "pending", Err: "no suitable node" },
  };
  assert.deepEqual(
    judgeTask(task, {
      unscheduledSeconds: 59,
      unschedulableTimeoutSeconds: 60,
    }),
    { ended: false },
  );
  const verdict = judgeTask(task, {
    unscheduledSeconds: 60,
    unschedulableTimeoutSeconds: 60,
  });
  assert.equal(verdict.ended, true);
  if (!verdict.ended) return;
  assert.equal(verdict.exitCode, -1);
  assert.match(verdict.error ?? "", /t1 could not be scheduled within 60 s/);
  assert.match(verdict.error ?? "", /no suitable node/);
});

Deno.test("SwarmBackend rejects a non-positive timeout", () => {
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  assert.throws(
    () => new SwarmBackend(docker, { unschedulableTimeoutSeconds: 0 }),
    RangeError,
  );
  assert.throws(
    () => new SwarmBackend(docker, { placement: [" "] }),
    TypeError,
  );
});

Deno.test({
  name: "SwarmBackend on a one-node swarm",
  ...engineTest,
  fn: async (t) => {
    const docker = new Docker({ socketPath: "/var/run/docker.sock" });
    await docker.getImage(TEST_IMAGE).inspect().catch(() => {
      throw new Error(
        `Test image ${TEST_IMAGE} is missing; run ` +
          `tests/setup/build_test_images.sh`,
      );
    });
    await ensureSwarm();
    const backend = (options: SwarmBackendOptions = {}) =>
      new SwarmBackend(docker, { pollIntervalMs: 200, ...options });
    try {
      await t.step("describe names the swarm", async () => {
        const info = await backend().describe();
        assert.equal(info.name, "Docker Swarm");
        assert.match(info.apiVersion, /^\d+\.\d+$/);
      });

      await t.step("job succeeds with output", async () => {
        const swarm = backend();
        await swarm.ensureImage(parseImageReference(TEST_IMAGE), {
          policy: "IfNotPresent",
          auth: null,
        });
        const spec = runSpec('echo "hello $GREETING"', {
          env: ['RUN=echo "hello $GREETING"', "GREETING=swarm"],
        });
        const run = await swarm.start(spec);
        const [lines, exit] = await Promise.all([readLines(run), run.wait()]);
        assert.deepEqual(lines, ["stdout:hello swarm"]);
        assert.deepEqual(exit, { exitCode: 0, oomKilled: false, error: null });
        await run.remove();
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("job fails with exit code 3", async () => {
        const spec = runSpec("echo bad >&2; exit 3");
        const run = await backend().start(spec);
        const [lines, exit] = await Promise.all([readLines(run), run.wait()]);
        assert.deepEqual(lines, ["stderr:bad"]);
        assert.equal(exit.exitCode, 3);
        assert.equal(exit.error, null);
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("output keeps order and streams", async () => {
        // Pauses between writes keep the two pipes in a known order.
        const spec = runSpec(
          "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2; " +
            "sleep 0.2; echo err2 >&2; sleep 0.2; printf 'no newline'",
        );
        const run = await backend().start(spec);
        const [lines, exit] = await Promise.all([readLines(run), run.wait()]);
        assert.deepEqual(lines, [
          "stdout:out1",
          "stderr:err1",
          "stdout:out2",
          "stderr:err2",
          "stdout:no newline",
        ]);
        assert.equal(exit.exitCode, 0);
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("output read after the end is complete", async () => {
        const spec = runSpec("for i in 1 2 3; do echo line$i; done");
        const run = await backend().start(spec);
        assert.equal((await run.wait()).exitCode, 0);
        assert.deepEqual(await readLines(run), [
          "stdout:line1",
          "stdout:line2",
          "stdout:line3",
        ]);
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("output reads again after closeOutput", async () => {
        const spec = runSpec("echo first; sleep 1; echo second");
        const run = await backend().start(spec);
        for await (const chunk of run.output()) {
          assert.ok(chunk.length > 0);
          run.closeOutput();
        }
        const [lines, exit] = await Promise.all([readLines(run), run.wait()]);
        assert.deepEqual(lines, ["stdout:first", "stdout:second"]);
        assert.equal(exit.exitCode, 0);
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("certificate is a secret file", async () => {
        const directory = await Deno.makeTempDir({ prefix: "swarm-cert-" });
        const hostPath = `${directory}/client.pfx`;
        await Deno.writeTextFile(hostPath, "CERTIFICATE-CONTENT\n");
        const spec = runSpec(
          "cat /certs/client.pfx; stat -c '%a %u' /certs/client.pfx",
          {
            readOnlyMounts: [{ hostPath, containerPath: "/certs/client.pfx" }],
          },
        );
        try {
          const run = await backend().start(spec);
          const secrets = await docker.listSecrets({
            filters: { label: [`${SWARM_RUN_LABEL}=${spec.name}`] },
          });
          assert.equal(secrets.length, 1);
          const [lines, exit] = await Promise.all([
            readLines(run),
            run.wait(),
          ]);
          assert.deepEqual(lines, [
            "stdout:CERTIFICATE-CONTENT",
            "stdout:400 0",
          ]);
          assert.equal(exit.exitCode, 0);
          await run.remove();
          await assertNothingLeft(docker, spec);
        } finally {
          await Deno.remove(directory, { recursive: true });
        }
      });

      await t.step("missing certificate file fails start", async () => {
        const spec = runSpec("true", {
          readOnlyMounts: [{
            hostPath: "/tmp/swarm-test-no-such-file.pfx",
            containerPath: "/certs/client.pfx",
          }],
        });
        await assert.rejects(
          () => backend().start(spec),
          /Reading \/tmp\/swarm-test-no-such-file\.pfx/,
        );
        await assertNothingLeft(docker, spec);
      });

      await t.step("stop removes a running job", async () => {
        const spec = runSpec("echo started; sleep 300");
        const run = await backend().start(spec);
        const reading = readLines(run);
        let state = "";
        for (let attempt = 0; attempt < 100 && state !== "running"; attempt++) {
          const tasks = await docker.listTasks({
            filters: { service: [run.id] },
          }) as Array<{ Status?: { State?: string } }>;
          state = tasks[0]?.Status?.State ?? "";
          if (state !== "running") {
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        }
        assert.equal(state, "running");
        const runs = await backend().listRuns({
          [LABELS.jobId]: spec.labels[LABELS.jobId],
        });
        assert.equal(runs[0]?.running, true);
        await run.stop(1);
        const exit = await run.wait();
        // The shell runs as PID 1, which ignores SIGTERM without a handler,
        // so the kill after the grace period usually ends it: 128 + 9.
        assert.ok(
          [137, 143].includes(exit.exitCode),
          `exit code ${exit.exitCode}`,
        );
        assert.deepEqual(await reading, ["stdout:started"]);
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("image that cannot be pulled ends the wait", async () => {
        const spec = runSpec("true", { image: "127.0.0.1:9/none:1" });
        const run = await backend({ unschedulableTimeoutSeconds: 10 })
          .start(spec);
        const exit = await run.wait();
        assert.equal(exit.exitCode, -1);
        assert.match(exit.error ?? "", /127\.0\.0\.1:9\/none:1/);
        assert.deepEqual(await readLines(run), []);
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("placement that no node fits fails", async () => {
        const spec = runSpec("true");
        const run = await backend({
          placement: ["node.labels.customer==nobody"],
          unschedulableTimeoutSeconds: 2,
        }).start(spec);
        const exit = await run.wait();
        assert.equal(exit.exitCode, -1);
        assert.match(exit.error ?? "", /could not be scheduled within 2 s/);
        assert.match(exit.error ?? "", /no suitable node/);
        await run.remove();
        await assertNothingLeft(docker, spec);
      });

      await t.step("listRuns and attach adopt a service", async () => {
        const directory = await Deno.makeTempDir({ prefix: "swarm-cert-" });
        const hostPath = `${directory}/client.pfx`;
        await Deno.writeTextFile(hostPath, "x");
        const spec = runSpec("echo adopted; exit 4", {
          readOnlyMounts: [{ hostPath, containerPath: "/certs/client.pfx" }],
        });
        try {
          await backend().start(spec);
          // A new backend stands for the daemon after a restart.
          const restarted = backend();
          const runs = await restarted.listRuns({
            [LABELS.jobId]: spec.labels[LABELS.jobId],
          });
          assert.equal(runs.length, 1);
          assert.equal(runs[0].name, spec.name);
          assert.equal(runs[0].labels[LABELS.orchestratorId], "swarm-test");
          const run = restarted.attach(runs[0].id);
          const [lines, exit] = await Promise.all([
            readLines(run),
            run.wait(),
          ]);
          assert.deepEqual(lines, ["stdout:adopted"]);
          assert.equal(exit.exitCode, 4);
          const ended = await restarted.listRuns({
            [LABELS.jobId]: spec.labels[LABELS.jobId],
          });
          assert.equal(ended[0]?.running, false);
          await run.remove();
          await assertNothingLeft(docker, spec);
        } finally {
          await Deno.remove(directory, { recursive: true });
        }
      });

      await t.step("wait on a removed service is not found", async () => {
        const spec = runSpec("sleep 300");
        const run = await backend().start(spec);
        await docker.getService(run.id).remove();
        await assert.rejects(() => run.wait(), { statusCode: 404 });
        await run.remove();
        await assertNothingLeft(docker, spec);
      });
    } finally {
      await leaveSwarmIfCreated();
    }
  },
});
