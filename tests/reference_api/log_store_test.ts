import assert from "node:assert/strict";
import { LogStore, utf8ByteLength } from "../../src/reference_api/log_store.ts";

Deno.test("utf8ByteLength matches TextEncoder", () => {
  const encoder = new TextEncoder();
  for (const text of ["", "abc", "héllo", "日本", "😀 ok", "\ud800 lone"]) {
    assert.equal(utf8ByteLength(text), encoder.encode(text).length, text);
  }
});

Deno.test("LogStore keeps jobs apart and counts totals", () => {
  const store = new LogStore();
  const a = crypto.randomUUID();
  const b = crypto.randomUUID();
  store.append(
    { jobId: a, message: "one", level: "Info", source: "container" },
    1,
  );
  store.append({
    jobId: b,
    message: "two",
    level: "Error",
    source: "container",
  }, 2);
  store.append({
    jobId: a.toUpperCase(),
    message: "x",
    level: "Debug",
    source: "orchestrator",
  }, 3);
  assert.deepEqual(store.entries(a).map((e) => e.message), ["one", "x"]);
  assert.deepEqual(store.stats(a), { count: 2, bytes: 4 });
  assert.deepEqual(store.stats(), { count: 3, bytes: 7 });
  assert.deepEqual(store.entries().map((e) => e.sequence), [1, 2, 3]);
});
