import assert from "node:assert/strict";
import type { LogLevel } from "../../src/iam_api/job.ts";
import type { OutputStream } from "../../src/log_shipping/frame_demuxer.ts";
import { lineCutMarker } from "../../src/log_shipping/line_assembler.ts";
import { createOutputPipeline } from "../../src/log_shipping/output_pipeline.ts";
import { SecretMasker } from "../../src/log_shipping/secret_masker.ts";

const encoder = new TextEncoder();

interface Shipped {
  text: string;
  level: LogLevel;
  source: "container" | "orchestrator";
}

/** Returns a shipper that records the lines it receives. */
function recordingShipper() {
  const shipped: Shipped[] = [];
  return {
    shipped,
    append(line: string, level: LogLevel) {
      shipped.push({ text: line, level, source: "container" });
    },
    appendOrchestrator(message: string, level: LogLevel) {
      shipped.push({ text: message, level, source: "orchestrator" });
    },
  };
}

/** Frames text the way the engine does, at most `frameBytes` per frame. */
function frames(type: 1 | 2 | 3, text: string, frameBytes = 16 * 1024) {
  const payload = encoder.encode(text);
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < payload.length; offset += frameBytes) {
    const piece = payload.subarray(offset, offset + frameBytes);
    const frame = new Uint8Array(8 + piece.length);
    frame[0] = type;
    new DataView(frame.buffer).setUint32(4, piece.length, false);
    frame.set(piece, 8);
    parts.push(frame);
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(
    parts.reduce((sum, part) => sum + part.length, 0),
  );
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/** Splits bytes into chunks of pseudo-random sizes from 1 to 5000. */
function chunks(bytes: Uint8Array): Uint8Array[] {
  const result: Uint8Array[] = [];
  let seed = 42;
  let offset = 0;
  while (offset < bytes.length) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    const size = 1 + (seed % 5000);
    result.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return result;
}

const NO_SECRETS = new SecretMasker([]);

Deno.test("createOutputPipeline ships stdout and stderr", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({ shipper, masker: NO_SECRETS });
  pipeline.push(concat([
    frames(1, "out 1\nout "),
    frames(2, "err 1\n"),
    frames(1, "2\n"),
  ]));
  pipeline.end();
  assert.deepEqual(shipper.shipped, [
    { text: "out 1", level: "Info", source: "container" },
    { text: "err 1", level: "Error", source: "container" },
    { text: "out 2", level: "Info", source: "container" },
  ]);
});

Deno.test("createOutputPipeline cuts a long framed line", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({ shipper, masker: NO_SECRETS });
  const line = Array.from({ length: 100_000 }, (_, i) => i % 10).join("");
  const bytes = frames(1, `${line}\nnext\n`);
  const parts = chunks(bytes);
  assert.ok(parts.length > 20);
  for (const part of parts) pipeline.push(part);
  pipeline.end();

  const texts = shipper.shipped.map((entry) => entry.text);
  assert.equal(texts.length, 3);
  assert.equal(texts[0], line.slice(0, 65536) + lineCutMarker(65536));
  assert.equal(texts[1], line.slice(65536));
  assert.equal(texts[2], "next");
});

Deno.test("createOutputPipeline honours maxLineBytes", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({
    shipper,
    masker: NO_SECRETS,
    maxLineBytes: 10,
  });
  pipeline.push(frames(1, "0123456789abc\n"));
  assert.deepEqual(shipper.shipped.map((entry) => entry.text), [
    "0123456789" + lineCutMarker(10),
    "abc",
  ]);
});

Deno.test("createOutputPipeline keeps a character split across reads", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({ shipper, masker: NO_SECRETS });
  const bytes = frames(1, "Grüße 😀\n");
  // After the 8-byte header, byte 11 is inside the 2-byte "ü" and byte 18
  // inside the 4-byte emoji.
  pipeline.push(bytes.subarray(0, 11));
  pipeline.push(bytes.subarray(11, 18));
  pipeline.push(bytes.subarray(18));
  pipeline.end();
  assert.deepEqual(shipper.shipped.map((entry) => entry.text), ["Grüße 😀"]);
});

Deno.test("createOutputPipeline ships a last line without newline", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({ shipper, masker: NO_SECRETS });
  pipeline.push(concat([frames(1, "a\nb"), frames(2, "c")]));
  assert.equal(shipper.shipped.length, 1);
  pipeline.end();
  pipeline.end();
  assert.deepEqual(
    shipper.shipped.map((entry) => [entry.text, entry.level]),
    [["a", "Info"], ["b", "Info"], ["c", "Error"]],
  );
});

Deno.test("createOutputPipeline handles CRLF and progress", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({ shipper, masker: NO_SECRETS });
  pipeline.push(frames(1, "one\r\n10%\r20%"));
  pipeline.push(frames(1, "\r30%\r\ntwo\r\n"));
  pipeline.end();
  assert.deepEqual(shipper.shipped.map((entry) => entry.text), [
    "one",
    "30%",
    "two",
  ]);
});

Deno.test("createOutputPipeline masks a secret split across chunks", () => {
  const shipper = recordingShipper();
  const masker = new SecretMasker([{ name: "Password", value: "hunter2!" }]);
  const echoed: [string, OutputStream][] = [];
  const pipeline = createOutputPipeline({
    shipper,
    masker,
    onLine: (line, stream) => echoed.push([line, stream]),
  });
  const bytes = frames(2, "password is hunter2! ok\n");
  // The cut falls between "hunt" and "er2!".
  pipeline.push(bytes.subarray(0, 8 + 16));
  pipeline.push(bytes.subarray(8 + 16));
  pipeline.push(frames(1, `encoded ${btoa("hunter2!")}\n`));
  pipeline.end();
  assert.deepEqual(shipper.shipped.map((entry) => entry.text), [
    "password is *** ok",
    "encoded ***",
  ]);
  assert.deepEqual(echoed, [
    ["password is *** ok", "stderr"],
    ["encoded ***", "stdout"],
  ]);
});

Deno.test("createOutputPipeline ships raw output as stdout", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({ shipper, masker: NO_SECRETS });
  pipeline.push(frames(1, "framed\n"));
  pipeline.push(encoder.encode("raw line\nraw "));
  pipeline.push(encoder.encode("end"));
  pipeline.end();
  const [framed, warning, ...rest] = shipper.shipped;
  assert.deepEqual(framed, {
    text: "framed",
    level: "Info",
    source: "container",
  });
  assert.equal(warning.source, "orchestrator");
  assert.equal(warning.level, "Warning");
  assert.match(warning.text, /Invalid frame header/);
  assert.match(warning.text, /shipped as stdout$/);
  assert.deepEqual(rest.map((entry) => [entry.text, entry.level]), [
    ["raw line", "Info"],
    ["raw end", "Info"],
  ]);
});

Deno.test("createOutputPipeline reports a truncated frame", () => {
  const shipper = recordingShipper();
  const pipeline = createOutputPipeline({ shipper, masker: NO_SECRETS });
  const bytes = frames(1, "complete\npartial line\n");
  pipeline.push(bytes.subarray(0, bytes.length - 6));
  pipeline.end();
  assert.deepEqual(shipper.shipped.map((entry) => entry.text), [
    "complete",
    "partial",
    "Container output ended after 16 bytes of a payload of 22 bytes, so " +
    "the rest of that output is missing",
  ]);
  assert.equal(shipper.shipped[2].source, "orchestrator");
});

Deno.test("createOutputPipeline rejects push after end", () => {
  const pipeline = createOutputPipeline({
    shipper: recordingShipper(),
    masker: NO_SECRETS,
  });
  pipeline.end();
  assert.throws(() => pipeline.push(new Uint8Array(1)), /after end/);
});

Deno.test("createOutputPipeline reports an engine error", () => {
  const shipper = recordingShipper();
  const masker = new SecretMasker([{ name: "Token", value: "tok-12345" }]);
  const pipeline = createOutputPipeline({ shipper, masker });
  pipeline.push(concat([
    frames(1, "started\n"),
    frames(3, "exec failed for tok-12345\n"),
  ]));
  pipeline.end();
  assert.deepEqual(shipper.shipped, [
    { text: "started", level: "Info", source: "container" },
    {
      text: "The Docker engine reported an error in the output stream: " +
        "exec failed for ***",
      level: "Error",
      source: "orchestrator",
    },
  ]);
});
