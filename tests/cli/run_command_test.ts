import assert from "node:assert/strict";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

async function runDaemon(
  permissions: string[],
  args: string[],
): Promise<{ code: number; stderr: string }> {
  const output = await new Deno.Command("deno", {
    args: ["run", ...permissions, MAIN, "run", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: output.code,
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("run exits 2 naming an invalid setting", async () => {
  const { code, stderr } = await runDaemon(["--allow-read", "--allow-env"], [
    "--set",
    "ContainerSettings:MaxConcurrentJobs=many",
  ]);
  assert.equal(code, 2);
  assert.match(stderr, /Invalid ContainerSettings:MaxConcurrentJobs: "many"/);
  assert.match(stderr, /flag --set/);
  assert.match(stderr, /whole number of jobs/);
});

Deno.test("run names the flags a missing socket permission needs", async () => {
  const state = await Deno.makeTempDir({ prefix: "iam-perm-" });
  try {
    const { code, stderr } = await runDaemon([
      "--allow-net=127.0.0.1",
      `--allow-read=.,${state}`,
      `--allow-write=${state}`,
      "--allow-env",
      "--allow-sys=hostname",
    ], [
      "--set",
      `OrchestratorSettings:StateDirectory=${state}`,
      "--set",
      "ApiSettings:BaseUrl=http://127.0.0.1:9",
      "--set",
      "Logging:Format=Text",
    ]);
    assert.equal(code, 1);
    assert.match(stderr, /--allow-read=\/var\/run\/docker\.sock/);
    assert.match(
      stderr,
      /--allow-net=unix:\/var\/run\/docker\.sock,127\.0\.0\.1:80/,
    );
    assert.match(stderr, /Cannot go on/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("run exits 2 when only some variables are allowed", async () => {
  const { code, stderr } = await runDaemon([
    "--allow-read",
    "--allow-env=ApiSettings__BaseUrl",
  ], []);
  assert.equal(code, 2);
  assert.match(stderr, /--allow-env for all variables/);
  assert.doesNotMatch(stderr, /at loadSettings/);
});

Deno.test("run names the settings of a status port it may not open", async () => {
  const state = await Deno.makeTempDir({ prefix: "iam-perm-" });
  try {
    const { code, stderr } = await runDaemon([
      "--allow-net=127.0.0.1:9,unix:/var/run/docker.sock,127.0.0.1:80",
      `--allow-read=.,${state},/var/run/docker.sock`,
      `--allow-write=${state},/var/run/docker.sock`,
      "--allow-env",
      "--allow-sys=hostname",
    ], [
      "--set",
      `OrchestratorSettings:StateDirectory=${state}`,
      "--set",
      "ApiSettings:BaseUrl=http://127.0.0.1:9",
      "--set",
      "OrchestratorSettings:StatusPort=19093",
      "--set",
      "Logging:Format=Text",
    ]);
    assert.equal(code, 1);
    assert.match(stderr, /OrchestratorSettings:StatusHost 127\.0\.0\.1/);
    assert.match(stderr, /--allow-net=127\.0\.0\.1:19093/);
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});
