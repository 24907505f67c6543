import assert from "node:assert/strict";
import {
  LineAssembler,
  lineCutMarker,
} from "../../src/log_shipping/line_assembler.ts";

const encoder = new TextEncoder();

function pushAll(assembler: LineAssembler, chunks: string[]): string[] {
  const lines: string[] = [];
  for (const chunk of chunks) {
    lines.push(...assembler.push(encoder.encode(chunk)));
  }
  return lines;
}

Deno.test("LineAssembler joins lines across chunks", () => {
  const assembler = new LineAssembler();
  const lines = pushAll(assembler, ["first li", "ne\nsec", "ond\n\nthird\n"]);
  assert.deepEqual(lines, ["first line", "second", "", "third"]);
  assert.deepEqual(assembler.flush(), []);
});

Deno.test("LineAssembler keeps a split character whole", () => {
  const text = "Zoë 😀 Ω\n";
  const bytes = encoder.encode(text);
  for (let split = 0; split <= bytes.length; split++) {
    const assembler = new LineAssembler();
    const lines = [
      ...assembler.push(bytes.subarray(0, split)),
      ...assembler.push(bytes.subarray(split)),
    ];
    assert.deepEqual(lines, ["Zoë 😀 Ω"], `split at byte ${split}`);
  }
});

Deno.test("LineAssembler flushes a last line without newline", () => {
  const assembler = new LineAssembler();
  assert.deepEqual(pushAll(assembler, ["done\nno newline"]), ["done"]);
  assert.deepEqual(assembler.flush(), ["no newline"]);
  assert.deepEqual(assembler.flush(), []);
});

Deno.test("LineAssembler strips CRLF", () => {
  const assembler = new LineAssembler();
  const lines = pushAll(assembler, ["one\r\ntwo\r", "\nthree\r\n"]);
  assert.deepEqual(lines, ["one", "two", "three"]);
});

Deno.test("LineAssembler keeps the last progress update", () => {
  const assembler = new LineAssembler();
  assert.deepEqual(pushAll(assembler, ["10%\r20%\r30%\n"]), ["30%"]);
  const split = new LineAssembler();
  assert.deepEqual(pushAll(split, ["10%\r", "20%\r", "30%", "\n"]), ["30%"]);
});

Deno.test("LineAssembler keeps progress ending with CRLF", () => {
  const assembler = new LineAssembler();
  assert.deepEqual(pushAll(assembler, ["10%\r20%\r\n"]), ["20%"]);
  assert.deepEqual(pushAll(assembler, ["\r\n"]), [""]);
});

Deno.test("LineAssembler flushes progress without newline", () => {
  const assembler = new LineAssembler();
  assert.deepEqual(pushAll(assembler, ["10%\r20%\r"]), []);
  assert.deepEqual(assembler.flush(), ["20%"]);
});

Deno.test("LineAssembler cuts a long line across frames", () => {
  const line = "x".repeat(100_000);
  const bytes = encoder.encode(line + "\nafter\n");
  const assembler = new LineAssembler();
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 1000) {
    lines.push(...assembler.push(bytes.subarray(offset, offset + 1000)));
  }
  const marker = lineCutMarker(65536);
  assert.equal(lines.length, 3);
  assert.equal(lines[0], "x".repeat(65536) + marker);
  assert.equal(lines[1], "x".repeat(100_000 - 65536));
  assert.equal(lines[2], "after");
});

Deno.test("LineAssembler keeps a line of exactly maxLineBytes", () => {
  const assembler = new LineAssembler({ maxLineBytes: 8 });
  assert.deepEqual(pushAll(assembler, ["12345678\n"]), ["12345678"]);
  assert.deepEqual(pushAll(assembler, ["123456789\n"]), [
    "12345678" + lineCutMarker(8),
    "9",
  ]);
});

Deno.test("LineAssembler cuts on a character boundary", () => {
  // Each "é" takes 2 bytes, so 7 bytes hold 3 of them.
  const line = "é".repeat(10);
  const assembler = new LineAssembler({ maxLineBytes: 7 });
  const lines = pushAll(assembler, [line + "\n"]);
  const marker = lineCutMarker(7);
  assert.deepEqual(lines, [
    "ééé" + marker,
    "ééé" + marker,
    "ééé" + marker,
    "é",
  ]);
  for (const piece of lines) assert.ok(!piece.includes("\uFFFD"));
});

Deno.test("LineAssembler cuts a line without newline", () => {
  const assembler = new LineAssembler({ maxLineBytes: 4 });
  assert.deepEqual(pushAll(assembler, ["abcdefghij"]), [
    "abcd" + lineCutMarker(4),
    "efgh" + lineCutMarker(4),
  ]);
  assert.deepEqual(assembler.flush(), ["ij"]);
});

Deno.test("LineAssembler decodes invalid UTF-8 as U+FFFD", () => {
  const assembler = new LineAssembler();
  const lines = assembler.push(new Uint8Array([0x61, 0xff, 0x62, 0x0a]));
  assert.deepEqual(lines, ["a\uFFFDb"]);
});

Deno.test("LineAssembler rejects a tiny maxLineBytes", () => {
  assert.throws(() => new LineAssembler({ maxLineBytes: 3 }), RangeError);
  assert.throws(() => new LineAssembler({ maxLineBytes: 1.5 }), RangeError);
});
