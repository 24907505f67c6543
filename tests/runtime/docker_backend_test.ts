import assert from "node:assert/strict";
import { parseDockerEndpoint } from "../../src/config/docker_endpoint.ts";
import {
  describeEngineFailure,
  DockerBackend,
} from "../../src/runtime/docker_backend.ts";
import { FrameReader } from "../../src/runtime/docker_log_frames.ts";
import { TEST_IMAGE } from "../support/jobs.ts";

const backend = new DockerBackend(
  parseDockerEndpoint("unix:///var/run/docker.sock"),
);

Deno.test({
  name: "DockerBackend output keeps the last line of a quick exit",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The engine's follow stream loses this line in some runs, so a single
    // run could pass by luck; twenty runs make a regression show.
    for (let i = 0; i < 20; i++) {
      const run = await backend.start({
        name: `iam-test-output-${crypto.randomUUID().slice(0, 8)}`,
        image: TEST_IMAGE,
        env: ["RUN=echo out1; echo err >&2; printf 'no newline'"],
        labels: { "io.iam-orchestrator.test": "output" },
      });
      try {
        const reader = new FrameReader();
        const lines: string[] = [];
        const reading = (async () => {
          for await (const chunk of run.output()) {
            for (const frame of reader.push(chunk)) {
              lines.push(
                `${frame.stream}:${new TextDecoder().decode(frame.payload)}`,
              );
            }
          }
        })();
        const exit = await run.wait();
        await reading;
        assert.equal(exit.exitCode, 0);
        assert.deepEqual(lines.sort(), ["1:no newline", "1:out1\n", "2:err\n"]);
      } finally {
        await run.remove();
      }
    }
  },
});

Deno.test({
  name: "DockerBackend listRuns finds containers by label",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const label = crypto.randomUUID();
    const run = await backend.start({
      name: `iam-test-list-${label.slice(0, 8)}`,
      image: TEST_IMAGE,
      env: ["RUN=sleep 30"],
      labels: { "io.iam-orchestrator.test": label },
    });
    try {
      const runs = await backend.listRuns({
        "io.iam-orchestrator.test": label,
      });
      assert.equal(runs.length, 1);
      assert.equal(runs[0].id, run.id);
      assert.equal(runs[0].running, true);
    } finally {
      await run.remove();
    }
    const after = await backend.listRuns({ "io.iam-orchestrator.test": label });
    assert.deepEqual(after, []);
  },
});

Deno.test({
  name: "DockerBackend closeOutput ends a followed log",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const run = await backend.start({
      name: `iam-test-close-${crypto.randomUUID().slice(0, 8)}`,
      image: TEST_IMAGE,
      env: ["RUN=echo ready; sleep 60"],
      labels: { "io.iam-orchestrator.test": "close-output" },
    });
    try {
      const reader = new FrameReader();
      const payloads: string[] = [];
      let ended = false;
      const reading = (async () => {
        for await (const chunk of run.output()) {
          for (const frame of reader.push(chunk)) {
            payloads.push(new TextDecoder().decode(frame.payload));
            run.closeOutput();
          }
        }
        ended = true;
      })();
      // The container sleeps for a minute, so only closeOutput can end the
      // reading before this guard does.
      let guard: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        reading,
        new Promise((resolve) => guard = setTimeout(resolve, 30_000)),
      ]);
      clearTimeout(guard);
      assert.equal(ended, true);
      assert.deepEqual(payloads, ["ready\n"]);
    } finally {
      await run.remove();
    }
  },
});

Deno.test("DockerBackend names a refused endpoint and its setting", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const closed = new DockerBackend(
    parseDockerEndpoint(`tcp://127.0.0.1:${port}`),
  );
  await assert.rejects(
    () => closed.describe(),
    (error: unknown) =>
      error instanceof Error &&
      error.message.includes(
        `tcp://127.0.0.1:${port} refused the connection`,
      ) &&
      error.message.includes("ContainerSettings:DockerEndpoint") &&
      !error.message.includes("fetch failed"),
  );
});

Deno.test("describeEngineFailure names the flag of each endpoint kind", () => {
  const denied = new Deno.errors.NotCapable("Requires access");
  assert.match(
    describeEngineFailure(parseDockerEndpoint("tcp://127.0.0.1:2375"), denied),
    /--allow-net=127\.0\.0\.1:2375/,
  );
  assert.ok(
    describeEngineFailure(parseDockerEndpoint("npipe://./pipe/x"), denied)
      .includes("--allow-read=\\\\.\\pipe\\x --allow-write="),
  );
  assert.match(
    describeEngineFailure(
      parseDockerEndpoint("unix:///var/run/docker.sock"),
      denied,
    ),
    /--allow-net=unix:\/var\/run\/docker\.sock,127\.0\.0\.1:80/,
  );
});
