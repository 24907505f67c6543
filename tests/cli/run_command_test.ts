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
