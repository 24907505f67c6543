import assert from "node:assert/strict";
import {
  EXEC_FAILED_EXIT_CODE,
  EXEC_INTERRUPTED_EXIT_CODE,
  EXEC_TIMEOUT_EXIT_CODE,
  execExitCode,
  runExecCommand,
} from "../../src/cli/exec_command.ts";
import { TEST_IMAGE } from "../support/jobs.ts";
import { type CapturedIo, captureIo } from "./command_output.ts";

// dockerode keeps engine connections open past a single test.
const engine = { sanitizeOps: false, sanitizeResources: false };

/** Settings file with no keys, so that a stray appsettings.json is not read. */
async function emptySettings(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(path, "{}");
  return path;
}

async function exec(args: string[]): Promise<{ code: number; io: CapturedIo }> {
  const config = await emptySettings();
  const io = captureIo();
  try {
    const code = await runExecCommand(["--config", config, ...args], io, {
      setupLogging: () => Promise.resolve(),
    });
    return { code, io };
  } finally {
    await Deno.remove(config);
  }
}

async function containersNamed(jobName: string): Promise<string[]> {
  const output = await new Deno.Command("docker", {
    args: [
      "ps",
      "-a",
      "--quiet",
      "--filter",
      `label=io.iam-orchestrator.job-name=${jobName}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout).split("\n").filter((id) =>
    id !== ""
  );
}

function uniqueName(): string {
  return `exec-test-${crypto.randomUUID().slice(0, 8)}`;
}

Deno.test({
  name: "exec returns the container's exit code",
  ...engine,
  fn: async () => {
    const name = uniqueName();
    const { code, io } = await exec([
      "--image",
      TEST_IMAGE,
      "--name",
      name,
      "--param",
      "RUN=echo out1; echo err1 >&2; echo out2; exit 3",
    ]);
    assert.equal(code, 3);
    assert.deepEqual(io.out, ["out1", "out2"]);
    assert.ok(io.err.includes("err1"), io.err.join("\n"));
    const notes = io.err.filter((line) =>
      line.startsWith("[iam-orchestrator]")
    );
    assert.ok(
      notes.some((line) => /Container exited with code 3/.test(line)),
      notes.join("\n"),
    );
    assert.deepEqual(await containersNamed(name), []);
  },
});

Deno.test({
  name: "exec exits 0 when the container succeeds",
  ...engine,
  fn: async () => {
    const { code, io } = await exec([
      "--image",
      TEST_IMAGE,
      "--param",
      "RUN=printf 'no newline'",
    ]);
    assert.equal(code, 0, io.err.join("\n"));
    assert.deepEqual(io.out, ["no newline"]);
  },
});

Deno.test({
  name: "exec passes parameters and job fields",
  ...engine,
  fn: async () => {
    const { code, io } = await exec([
      "--image",
      TEST_IMAGE,
      "--name",
      "nightly",
      "--customer",
      "acme",
      "--script",
      "/scripts/none.sh",
      "--what-if",
      "--param",
      "GREETING=hello=world",
      "--param",
      'RUN=echo "$GREETING|$CUSTOMER|$JOB_NAME|$WHAT_IF|$SCRIPT_PATH"',
    ]);
    assert.equal(code, 0, io.err.join("\n"));
    assert.deepEqual(io.out, [
      "hello=world|acme|nightly|True|/scripts/none.sh",
    ]);
  },
});

Deno.test({
  name: "exec masks secret parameters",
  ...engine,
  fn: async () => {
    const secret = "s3cret-value-4711";
    const { code, io } = await exec([
      "--image",
      TEST_IMAGE,
      "--param",
      `API_PASSWORD=${secret}`,
      "--param",
      'RUN=echo "password is $API_PASSWORD"',
    ]);
    assert.equal(code, 0, io.err.join("\n"));
    assert.equal(io.out.length, 1);
    assert.ok(!io.out[0].includes(secret), io.out[0]);
    assert.match(io.out[0], /^password is /);
  },
});

Deno.test({
  name: "exec stops a job at its timeout",
  ...engine,
  fn: async () => {
    const name = uniqueName();
    const { code, io } = await exec([
      "--image",
      TEST_IMAGE,
      "--name",
      name,
      "--timeout",
      "1",
      "--set",
      "ContainerSettings:StopGraceSeconds=0",
      "--param",
      "RUN=echo started; sleep 60",
    ]);
    assert.equal(code, EXEC_TIMEOUT_EXIT_CODE);
    assert.deepEqual(io.out, ["started"]);
    assert.match(io.err.join("\n"), /timed out after 1 s/);
    assert.deepEqual(await containersNamed(name), []);
  },
});

Deno.test({
  name: "exec runs a job file without an id",
  ...engine,
  fn: async () => {
    const path = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(
        path,
        JSON.stringify({
          Name: "from file",
          containerImage: TEST_IMAGE,
          parameters: { RUN: 'echo "$JOB_NAME $JOB_ID"; exit 5' },
        }),
      );
      const { code, io } = await exec(["--job", path]);
      assert.equal(code, 5, io.err.join("\n"));
      assert.equal(io.out.length, 1);
      assert.match(
        io.out[0],
        /^from file [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      );
    } finally {
      await Deno.remove(path);
    }
  },
});

Deno.test({
  name: "exec exits 1 when the image is missing",
  ...engine,
  fn: async () => {
    const { code, io } = await exec([
      "--image",
      "iam-orchestrator-test/absent:latest",
      "--set",
      "ContainerSettings:PullPolicy=Never",
    ]);
    assert.equal(code, EXEC_FAILED_EXIT_CODE);
    assert.deepEqual(io.out, []);
    assert.match(io.err.join("\n"), /PullPolicy is Never/);
  },
});

Deno.test({
  name: "exec exits 1 when the engine is unreachable",
  ...engine,
  fn: async () => {
    const { code, io } = await exec([
      "--image",
      TEST_IMAGE,
      "--docker-endpoint",
      "unix:///tmp/iam-orchestrator-no-engine.sock",
    ]);
    assert.equal(code, EXEC_FAILED_EXIT_CODE);
    assert.match(io.err.join("\n"), /no-engine\.sock/);
  },
});

Deno.test("exec exits 2 without an image", async () => {
  const { code, io } = await exec([]);
  assert.equal(code, 2);
  assert.match(io.err.join("\n"), /Missing --image IMAGE or --job FILE\.json/);
});

Deno.test("exec exits 2 on a parameter without a value", async () => {
  const { code, io } = await exec(["--image", TEST_IMAGE, "--param", "TENANT"]);
  assert.equal(code, 2);
  assert.match(io.err.join("\n"), /Invalid --param "TENANT"/);
});

Deno.test("exec exits 2 on a timeout that is not whole", async () => {
  const { code, io } = await exec(["--image", TEST_IMAGE, "--timeout", "1.5"]);
  assert.equal(code, 2);
  assert.match(io.err.join("\n"), /ContainerSettings:DefaultTimeout/);
  assert.match(io.err.join("\n"), /flag --timeout/);
});

Deno.test("exec exits 2 on --job with job options", async () => {
  const { code, io } = await exec([
    "--job",
    "/tmp/job.json",
    "--image",
    TEST_IMAGE,
  ]);
  assert.equal(code, 2);
  assert.match(io.err.join("\n"), /--job cannot be combined with --image/);
});

Deno.test("exec exits 2 on an invalid job file", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, JSON.stringify({ name: "no image" }));
    const { code, io } = await exec(["--job", path]);
    assert.equal(code, 2);
    assert.match(io.err.join("\n"), /Invalid job in job file/);
    assert.match(io.err.join("\n"), /containerImage/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("exec help lists options with units and defaults", async () => {
  const io = captureIo();
  assert.equal(await runExecCommand(["--help"], io), 0);
  const help = io.out.join("\n");
  for (
    const option of [
      "--image IMAGE",
      "--param KEY=VALUE",
      "--script PATH",
      "--what-if",
      "--name NAME",
      "--customer NAME",
      "--timeout SECONDS",
      "--job FILE.json",
    ]
  ) {
    assert.ok(help.includes(option), `help lacks ${option}`);
  }
  assert.match(help, /whole\s+seconds/);
  assert.match(help, /default "exec"/);
});

Deno.test("execExitCode maps results to exit codes", () => {
  const failed = {
    status: "Failed" as const,
    containerId: "c",
    timedOut: false,
    durationSeconds: 1,
    shipping: null,
  };
  assert.equal(
    execExitCode({
      ...failed,
      exitCode: 137,
      reason: "Job timed out after 2 s",
      timedOut: true,
    }, false),
    EXEC_TIMEOUT_EXIT_CODE,
  );
  assert.equal(
    execExitCode({ ...failed, exitCode: 143, reason: "stopped" }, true),
    EXEC_INTERRUPTED_EXIT_CODE,
  );
  assert.equal(
    execExitCode({ ...failed, exitCode: null, reason: "pull failed" }, false),
    EXEC_FAILED_EXIT_CODE,
  );
  assert.equal(
    execExitCode({ ...failed, exitCode: 0, reason: "out of memory" }, false),
    EXEC_FAILED_EXIT_CODE,
  );
  assert.equal(
    execExitCode({ ...failed, exitCode: 9, reason: "exit 9" }, false),
    9,
  );
  assert.equal(
    execExitCode({
      ...failed,
      status: "Completed",
      exitCode: 0,
      reason: null,
    }, false),
    0,
  );
});
