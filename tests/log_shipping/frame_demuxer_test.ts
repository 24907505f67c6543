import assert from "node:assert/strict";
import {
  type Frame,
  FrameDemuxer,
  MAX_SYSTEM_PAYLOAD_BYTES,
} from "../../src/log_shipping/frame_demuxer.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function frame(type: number, text: string): Uint8Array {
  const payload = encoder.encode(text);
  const bytes = new Uint8Array(8 + payload.length);
  bytes[0] = type;
  new DataView(bytes.buffer).setUint32(4, payload.length, false);
  bytes.set(payload, 8);
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** Joins the payload pieces of each stream into text. */
function textByStream(frames: Frame[]): { stdout: string; stderr: string } {
  const bytes = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  for (const { stream, payload } of frames) {
    assert.notEqual(stream, "system");
    if (stream !== "system") bytes[stream].push(payload);
  }
  return {
    stdout: decoder.decode(concat(...bytes.stdout)),
    stderr: decoder.decode(concat(...bytes.stderr)),
  };
}

const STREAM = concat(
  frame(1, "first out\n"),
  frame(2, "an error\n"),
  frame(1, "second out\n"),
);

Deno.test("FrameDemuxer parses a stream in one chunk", () => {
  const demuxer = new FrameDemuxer();
  const frames = demuxer.push(STREAM);
  assert.deepEqual(frames.map((f) => f.stream), ["stdout", "stderr", "stdout"]);
  assert.deepEqual(textByStream(frames), {
    stdout: "first out\nsecond out\n",
    stderr: "an error\n",
  });
  assert.equal(demuxer.end(), null);
});

Deno.test("FrameDemuxer handles a split at every offset", () => {
  for (let split = 0; split <= STREAM.length; split++) {
    const demuxer = new FrameDemuxer();
    const frames = [
      ...demuxer.push(STREAM.subarray(0, split)),
      ...demuxer.push(STREAM.subarray(split)),
    ];
    assert.deepEqual(
      textByStream(frames),
      { stdout: "first out\nsecond out\n", stderr: "an error\n" },
      `split at byte ${split}`,
    );
    assert.equal(demuxer.end(), null, `split at byte ${split}`);
  }
});

Deno.test("FrameDemuxer handles one byte per chunk", () => {
  const demuxer = new FrameDemuxer();
  const frames: Frame[] = [];
  for (let index = 0; index < STREAM.length; index++) {
    frames.push(...demuxer.push(STREAM.subarray(index, index + 1)));
  }
  assert.deepEqual(textByStream(frames), {
    stdout: "first out\nsecond out\n",
    stderr: "an error\n",
  });
});

Deno.test("FrameDemuxer copies payloads out of the chunk", () => {
  const chunk = frame(1, "abc");
  const [first] = new FrameDemuxer().push(chunk);
  chunk.fill(0);
  assert.equal(decoder.decode(first.payload), "abc");
});

Deno.test("FrameDemuxer reads stdin frames as stdout", () => {
  const frames = new FrameDemuxer().push(frame(0, "echo\n"));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].stream, "stdout");
});

Deno.test("FrameDemuxer skips empty frames", () => {
  const demuxer = new FrameDemuxer();
  const frames = demuxer.push(concat(frame(1, ""), frame(2, "x")));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].stream, "stderr");
  assert.equal(demuxer.end(), null);
});

Deno.test("FrameDemuxer rejects an unknown stream type", () => {
  const demuxer = new FrameDemuxer();
  assert.throws(() => demuxer.push(frame(4, "x")), (error: unknown) => {
    assert.ok(error instanceof RangeError);
    assert.match(error.message, /"04 00 00 00 00 00 00 01" at byte 0/);
    assert.match(error.message, /Tty/);
    return true;
  });
});

Deno.test("FrameDemuxer rejects raw TTY output", () => {
  const demuxer = new FrameDemuxer();
  assert.throws(
    () => demuxer.push(encoder.encode("hello world\n")),
    RangeError,
  );
  assert.equal(
    decoder.decode(demuxer.takeRemainder()),
    "hello world\n",
  );
});

Deno.test("FrameDemuxer returns frames before an invalid header", () => {
  const demuxer = new FrameDemuxer();
  const frames = demuxer.push(
    concat(frame(1, "ok\n"), encoder.encode("raw text")),
  );
  assert.deepEqual(textByStream(frames), { stdout: "ok\n", stderr: "" });
  assert.throws(() => demuxer.push(encoder.encode(" more")), /byte 11/);
  assert.throws(() => demuxer.end(), RangeError);
  assert.equal(decoder.decode(demuxer.takeRemainder()), "raw text more");
  assert.equal(demuxer.takeRemainder().length, 0);
});

Deno.test("FrameDemuxer reports a truncated payload", () => {
  const demuxer = new FrameDemuxer();
  const whole = frame(2, "0123456789");
  demuxer.push(whole.subarray(0, 12));
  assert.deepEqual(demuxer.end(), {
    stream: "stderr",
    expectedBytes: 10,
    receivedBytes: 4,
  });
});

Deno.test("FrameDemuxer reports a truncated header", () => {
  const demuxer = new FrameDemuxer();
  demuxer.push(frame(1, "abc").subarray(0, 5));
  assert.deepEqual(demuxer.end(), {
    stream: null,
    expectedBytes: null,
    receivedBytes: 5,
  });
});

Deno.test("FrameDemuxer takeRemainder is empty without error", () => {
  const demuxer = new FrameDemuxer();
  demuxer.push(frame(1, "abc"));
  assert.equal(demuxer.takeRemainder().length, 0);
});

Deno.test("FrameDemuxer returns an engine error whole", () => {
  const demuxer = new FrameDemuxer();
  const bytes = concat(
    frame(1, "out"),
    frame(3, "exec failed: no such file"),
    frame(1, "more"),
  );
  const frames: Frame[] = [];
  for (let index = 0; index < bytes.length; index += 5) {
    frames.push(...demuxer.push(bytes.subarray(index, index + 5)));
  }
  const system = frames.filter((f) => f.stream === "system");
  assert.equal(system.length, 1);
  assert.equal(decoder.decode(system[0].payload), "exec failed: no such file");
  const stdout = frames.filter((f) => f.stream === "stdout");
  assert.equal(
    decoder.decode(concat(...stdout.map((f) => f.payload))),
    "outmore",
  );
});

Deno.test("FrameDemuxer returns an empty engine error", () => {
  const frames = new FrameDemuxer().push(frame(3, ""));
  assert.deepEqual(frames, [{ stream: "system", payload: new Uint8Array(0) }]);
});

Deno.test("FrameDemuxer cuts a long engine error", () => {
  const text = "e".repeat(MAX_SYSTEM_PAYLOAD_BYTES + 100);
  const frames = new FrameDemuxer().push(frame(3, text));
  assert.equal(frames.length, 1);
  assert.equal(frames[0].payload.length, MAX_SYSTEM_PAYLOAD_BYTES);
});
