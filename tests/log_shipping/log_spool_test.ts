import assert from "node:assert/strict";
import { LogSpool } from "../../src/log_shipping/log_spool.ts";

async function withDirectory(
  test: (directory: string) => void | Promise<void>,
): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "log-spool-test-" });
  try {
    await test(directory);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

function filesIn(directory: string): string[] {
  return [...Deno.readDirSync(directory)].map((entry) => entry.name);
}

Deno.test("LogSpool reads records back in order", async () => {
  await withDirectory((directory) => {
    const spool = new LogSpool(directory);
    spool.append({ level: "Info", source: "container", text: "one" });
    spool.append({ level: "Error", source: "container", text: "zwei ü" });
    spool.append({ level: "Warning", source: "orchestrator", text: "" });
    assert.equal(spool.pendingRecords, 3);
    assert.equal(spool.pendingBytes, 3 + 7);
    assert.deepEqual(spool.read(1_000_000), [
      { level: "Info", source: "container", text: "one", bytes: 3 },
      { level: "Error", source: "container", text: "zwei ü", bytes: 7 },
      { level: "Warning", source: "orchestrator", text: "", bytes: 0 },
    ]);
    assert.equal(spool.pendingRecords, 0);
    assert.equal(spool.pendingBytes, 0);
  });
});

Deno.test("LogSpool read honours maxBytes", async () => {
  await withDirectory((directory) => {
    const spool = new LogSpool(directory);
    for (let index = 0; index < 10; index++) {
      spool.append({
        level: "Info",
        source: "container",
        text: `line ${index}`,
      });
    }
    const first = spool.read(12);
    assert.deepEqual(first.map((record) => record.text), ["line 0", "line 1"]);
    const next = spool.read(1);
    assert.deepEqual(next.map((record) => record.text), ["line 2"]);
    const rest = spool.read(1000);
    assert.equal(rest.length, 7);
    assert.equal(rest[6].text, "line 9");
    spool.close();
  });
});

Deno.test("LogSpool reads a record larger than a block", async () => {
  await withDirectory((directory) => {
    const spool = new LogSpool(directory);
    const big = "b".repeat(200_000);
    spool.append({ level: "Info", source: "container", text: "small" });
    spool.append({ level: "Info", source: "container", text: big });
    assert.deepEqual(spool.read(1).map((record) => record.text), ["small"]);
    assert.deepEqual(spool.read(1).map((record) => record.text), [big]);
  });
});

Deno.test("LogSpool deletes its file when drained", async () => {
  await withDirectory((directory) => {
    const spool = new LogSpool(directory, { prefix: "job-a/b" });
    assert.equal(spool.path, null);
    spool.append({ level: "Info", source: "container", text: "x" });
    const path = spool.path;
    assert.ok(path !== null);
    assert.match(path, /\/job-a_b-[0-9a-f-]+\.spool$/);
    assert.equal(filesIn(directory).length, 1);
    spool.read(100);
    assert.equal(spool.path, null);
    assert.deepEqual(filesIn(directory), []);

    spool.append({ level: "Info", source: "container", text: "again" });
    assert.equal(filesIn(directory).length, 1);
    assert.deepEqual(spool.read(100).map((record) => record.text), ["again"]);
  });
});

Deno.test("LogSpool close deletes unread records", async () => {
  await withDirectory((directory) => {
    const spool = new LogSpool(directory);
    spool.append({ level: "Info", source: "container", text: "x" });
    spool.close();
    assert.deepEqual(filesIn(directory), []);
    assert.equal(spool.pendingRecords, 0);
    assert.deepEqual(spool.read(100), []);
    spool.close();
  });
});

Deno.test("LogSpool append fails in a missing directory", async () => {
  await withDirectory((directory) => {
    const spool = new LogSpool(`${directory}/missing`);
    assert.throws(
      () => spool.append({ level: "Info", source: "container", text: "x" }),
      Deno.errors.NotFound,
    );
    assert.equal(spool.pendingRecords, 0);
  });
});
