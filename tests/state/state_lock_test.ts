import assert from "node:assert/strict";
import { lockStateDirectory } from "../../src/state/state_lock.ts";
import { StateStoreError } from "../../src/state/state_store_error.ts";

Deno.test("lockStateDirectory refuses a second holder", async () => {
  const directory = await Deno.makeTempDir({ prefix: "iam-lock-" });
  try {
    const first = lockStateDirectory(directory);
    assert.throws(
      () => lockStateDirectory(directory),
      (error: unknown) =>
        error instanceof StateStoreError &&
        error.message.includes(directory) &&
        error.message.includes("in use by another orchestrator process") &&
        error.message.includes("OrchestratorSettings:StateDirectory"),
    );
    first.release();
    first.release();
    const second = lockStateDirectory(directory);
    second.release();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("lockStateDirectory is released when its process dies", async () => {
  const directory = await Deno.makeTempDir({ prefix: "iam-lock-" });
  const module = new URL("../../src/state/state_lock.ts", import.meta.url).href;
  try {
    const holder = new Deno.Command("deno", {
      args: [
        "eval",
        `import { lockStateDirectory } from "${module}";` +
        `lockStateDirectory(${JSON.stringify(directory)});` +
        `console.log("locked"); setInterval(() => {}, 1000);`,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /locked/);
    assert.throws(() => lockStateDirectory(directory), StateStoreError);
    holder.kill("SIGKILL");
    await holder.status;
    reader.releaseLock();
    await holder.stdout.cancel();
    lockStateDirectory(directory).release();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
