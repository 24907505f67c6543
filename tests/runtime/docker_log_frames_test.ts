import assert from "node:assert/strict";
import {
  encodeFrame,
  encodeFrames,
  FrameReader,
  LogPosition,
  sinceParameter,
  splitTimestamp,
} from "../../src/runtime/docker_log_frames.ts";

const text = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("FrameReader joins frames split at every offset", () => {
  const stream = new Uint8Array([
    ...encodeFrame(1, text.encode("hello\n")),
    ...encodeFrame(2, text.encode("oops\n")),
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const reader = new FrameReader();
    const frames = [
      ...reader.push(stream.subarray(0, cut)),
      ...reader.push(stream.subarray(cut)),
    ];
    assert.equal(frames.length, 2, `cut at ${cut}`);
    assert.equal(frames[0].stream, 1);
    assert.equal(decoder.decode(frames[0].payload), "hello\n");
    assert.equal(frames[1].stream, 2);
    assert.equal(decoder.decode(frames[1].payload), "oops\n");
  }
});

Deno.test("encodeFrames writes each header and payload once", () => {
  const encoded = encodeFrames([
    { stream: 1, payload: text.encode("first\n") },
    { stream: 2, payload: new Uint8Array(0) },
    { stream: 1, payload: text.encode("third") },
  ]);
  assert.equal(encoded.length, 3 * 8 + 6 + 5);
  const frames = new FrameReader().push(encoded);
  assert.deepEqual(
    frames.map((frame) => [frame.stream, decoder.decode(frame.payload)]),
    [[1, "first\n"], [2, ""], [1, "third"]],
  );
});

Deno.test("splitTimestamp rejects a non-ASCII time", () => {
  assert.equal(
    splitTimestamp(text.encode("2026-12-04T16:01:33.0123\u00e9 line\n")),
    null,
  );
});

Deno.test("splitTimestamp pads the fraction to nanoseconds", () => {
  const split = splitTimestamp(
    text.encode("2026-12-04T16:01:33.0123Z line\n"),
  );
  assert.ok(split !== null);
  assert.equal(split.key, "2026-12-04T16:01:33.012300000Z");
  assert.equal(decoder.decode(split.message), "line\n");
});

Deno.test("splitTimestamp returns null without a timestamp", () => {
  assert.equal(splitTimestamp(text.encode("no time here\n")), null);
});

Deno.test("sinceParameter gives Unix seconds with nanoseconds", () => {
  assert.equal(
    sinceParameter("1970-01-01T00:00:10.000000042Z"),
    "10.000000042",
  );
});

Deno.test("LogPosition skips what a first read saw", () => {
  const position = new LogPosition();
  position.startPass();
  assert.equal(position.accept(1, "2026-01-01T00:00:01.000000000Z"), true);
  assert.equal(position.accept(1, "2026-01-01T00:00:02.000000000Z"), true);
  assert.equal(position.accept(1, "2026-01-01T00:00:02.000000000Z"), true);
  // A second read from an earlier time returns the same messages and more.
  position.startPass();
  assert.equal(position.accept(1, "2026-01-01T00:00:01.000000000Z"), false);
  assert.equal(position.accept(1, "2026-01-01T00:00:02.000000000Z"), false);
  assert.equal(position.accept(1, "2026-01-01T00:00:02.000000000Z"), false);
  assert.equal(position.accept(1, "2026-01-01T00:00:02.000000000Z"), true);
  assert.equal(position.accept(1, "2026-01-01T00:00:03.000000000Z"), true);
});

Deno.test("LogPosition keeps streams apart", () => {
  const position = new LogPosition();
  position.startPass();
  assert.equal(position.accept(1, "2026-01-01T00:00:05.000000000Z"), true);
  // stderr stamped earlier than the stdout line before it is still new.
  assert.equal(position.accept(2, "2026-01-01T00:00:04.000000000Z"), true);
  position.startPass();
  assert.equal(position.accept(2, "2026-01-01T00:00:04.000000000Z"), false);
  assert.equal(position.accept(2, "2026-01-01T00:00:04.500000000Z"), true);
});

Deno.test("LogPosition starts the second read before the earliest stream", () => {
  const position = new LogPosition();
  assert.equal(position.since, undefined);
  position.startPass();
  position.accept(1, "1970-01-01T00:00:20.000000000Z");
  position.accept(2, "1970-01-01T00:00:10.000000500Z");
  assert.equal(position.since, "8.000000500");
});
