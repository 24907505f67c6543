import assert from "node:assert/strict";
import {
  formatEvent,
  runServeCommand,
} from "../../src/reference_api/serve_command.ts";

interface CapturedIo {
  lines: string[];
  errors: string[];
  controller: AbortController;
  print(line: string): void;
  printError(line: string): void;
  signal: AbortSignal;
  readTextFile?: (path: string) => Promise<string>;
}

function captureIo(files: Record<string, string> = {}): CapturedIo {
  const controller = new AbortController();
  const io: CapturedIo = {
    lines: [],
    errors: [],
    controller,
    print: (line) => io.lines.push(line),
    printError: (line) => io.errors.push(line),
    signal: controller.signal,
    readTextFile: (path) => {
      const text = files[path];
      return text === undefined
        ? Promise.reject(new Deno.errors.NotFound(`No file "${path}"`))
        : Promise.resolve(text);
    },
  };
  return io;
}

async function waitForLine(io: CapturedIo, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const line = io.lines.find((l) => pattern.test(l));
    if (line !== undefined) return line;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`No output line matched ${pattern}`);
}

Deno.test("runServeCommand serves jobs until aborted", async () => {
  const jobs = JSON.stringify([{ name: "from-file", customer: "alpha" }]);
  const io = captureIo({ "jobs.json": jobs });
  const exit = runServeCommand(["--jobs", "jobs.json"], io);
  const line = await waitForLine(io, /listening on/);
  const url = /(http:\/\/\S+)/.exec(line)![1];
  const response = await fetch(`${url}/api/jobs/pending`);
  const body = await response.json();
  assert.equal(body.length, 1);
  assert.equal(body[0].name, "from-file");
  await fetch(`${url}/api/jobs/${body[0].id}/status`, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: '"Running"',
  }).then((r) => r.text());
  await waitForLine(io, /Pending -> Running/);
  io.controller.abort();
  assert.equal(await exit, 0);
  assert.ok(io.lines.includes("Reference IAM API stopped"));
});

Deno.test("runServeCommand prints a password for generation 2", async () => {
  const io = captureIo();
  const exit = runServeCommand(["--generation", "2"], io);
  const line = await waitForLine(io, /password/);
  const password = /password "([^"]+)"/.exec(line)![1];
  const url = /(http:\/\/\S+)/.exec(await waitForLine(io, /listening on/))![1];
  const response = await fetch(`${url}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "orchestrator", password }),
  });
  await response.text();
  assert.equal(response.status, 200);
  io.controller.abort();
  assert.equal(await exit, 0);
});

Deno.test("runServeCommand rejects invalid arguments", async () => {
  for (
    const args of [
      ["--port", "abc"],
      ["--generation", "3"],
      ["--user", "nopassword"],
      ["--unknown"],
      ["--jobs", "missing.json"],
    ]
  ) {
    const io = captureIo({ "bad.json": "{}" });
    assert.equal(await runServeCommand(args, io), 2, args.join(" "));
    assert.ok(io.errors.length > 0);
  }
});

Deno.test("runServeCommand rejects a jobs file without an array", async () => {
  const io = captureIo({ "bad.json": '{"jobs": []}' });
  assert.equal(await runServeCommand(["--jobs", "bad.json"], io), 2);
  assert.match(io.errors[0], /JSON array/);
});

Deno.test("runServeCommand prints help", async () => {
  const io = captureIo();
  assert.equal(await runServeCommand(["--help"], io), 0);
  assert.match(io.lines[0], /--generation/);
});

Deno.test("formatEvent describes a log entry", () => {
  const line = formatEvent({
    type: "log",
    jobId: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    level: "Error",
    source: "container",
    message: "disk full",
  });
  assert.equal(line, "log 3f2504e0 container Error: disk full");
});
