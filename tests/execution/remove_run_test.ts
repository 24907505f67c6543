import assert from "node:assert/strict";
import { removeRun } from "../../src/execution/job_runner.ts";

function recordingLogger(messages: string[]) {
  return {
    warn(message: string, properties: Record<string, unknown>) {
      messages.push(`${message} ${JSON.stringify(properties)}`);
    },
  };
}

Deno.test("removeRun tries again while the engine is away", async () => {
  let calls = 0;
  const messages: string[] = [];
  await removeRun(
    {
      id: "c1",
      remove() {
        calls++;
        return calls < 3
          ? Promise.reject(new Error("connection refused"))
          : Promise.resolve();
      },
    },
    recordingLogger(messages),
    { retryBaseMs: 1 },
  );
  assert.equal(calls, 3);
  assert.equal(messages.length, 2);
  assert.match(messages[0], /trying again/);
});

Deno.test("removeRun gives up after six attempts", async () => {
  let calls = 0;
  const messages: string[] = [];
  await removeRun(
    {
      id: "c2",
      remove() {
        calls++;
        return Promise.reject(new Error("connection refused"));
      },
    },
    recordingLogger(messages),
    { retryBaseMs: 1 },
  );
  assert.equal(calls, 6);
  assert.match(messages.at(-1) ?? "", /next start of the orchestrator/);
});
