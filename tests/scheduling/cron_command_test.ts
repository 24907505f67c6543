import assert from "node:assert/strict";
import { runCronCommand } from "../../src/scheduling/cron_command.ts";

function run(args: string[]) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = runCronCommand(args, {
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
  });
  return { code, stdout, stderr };
}

Deno.test("cron command prints fire times in UTC", () => {
  const result = run([
    "0 0 29 2 *",
    "--count",
    "3",
    "--from",
    "2013-08-29T00:00:00Z",
  ]);
  assert.equal(result.code, 0);
  assert.deepEqual(result.stdout, [
    "2016-02-29T00:00:00Z",
    "2020-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
  ]);
  assert.deepEqual(result.stderr, []);
});

Deno.test("cron command prints ten fire times by default", () => {
  const result = run(["@hourly", "--from", "2024-01-01T00:00:00Z"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout.length, 10);
  assert.equal(result.stdout[0], "2024-01-01T01:00:00Z");
  assert.equal(result.stdout[9], "2024-01-01T10:00:00Z");
});

Deno.test("cron command adds local time outside UTC", () => {
  const result = run([
    "30 2 * * *",
    "--tz",
    "America/New_York",
    "--count",
    "2",
    "--from",
    "2026-03-08T05:00:00Z",
  ]);
  assert.equal(result.code, 0);
  assert.deepEqual(result.stdout, [
    "2026-03-08T07:00:00Z  2026-03-08T03:00:00-04:00",
    "2026-03-09T06:30:00Z  2026-03-09T02:30:00-04:00",
  ]);
});

Deno.test("cron command reads --from without offset in --tz", () => {
  const result = run([
    "0 9 * * *",
    "--tz",
    "Europe/Oslo",
    "--count",
    "1",
    "--from",
    "2024-01-01T09:00",
  ]);
  assert.equal(result.code, 0);
  assert.deepEqual(result.stdout, [
    "2024-01-02T08:00:00Z  2024-01-02T09:00:00+01:00",
  ]);
});

Deno.test("cron command omits local time for --tz UTC", () => {
  const result = run([
    "0 9 * * *",
    "--tz",
    "UTC",
    "--count",
    "1",
    "--from",
    "2024-01-01T00:00:00Z",
  ]);
  assert.deepEqual(result.stdout, ["2024-01-01T09:00:00Z"]);
});

Deno.test("cron command writes warnings to stderr", () => {
  const result = run([
    "0 9 * * FRI-SUN",
    "--count",
    "3",
    "--from",
    "2024-01-01T00:00:00Z",
  ]);
  assert.equal(result.code, 0);
  assert.deepEqual(result.stdout, [
    "2024-01-05T09:00:00Z",
    "2024-01-06T09:00:00Z",
    "2024-01-07T09:00:00Z",
  ]);
  assert.equal(result.stderr.length, 1);
  assert.match(result.stderr[0], /^Warning: .*NCrontab/);
});

Deno.test("cron command notes an expression that never fires", () => {
  const result = run(["0 0 30 2 *", "--from", "2024-01-01T00:00:00Z"]);
  assert.equal(result.code, 0);
  assert.deepEqual(result.stdout, []);
  assert.ok(result.stderr.some((line) => line.includes("never fires")));
  assert.ok(result.stderr.some((line) => line.startsWith("Note:")));
});

Deno.test("cron command exits 2 on an invalid expression", () => {
  const result = run(["0 25 * * *"]);
  assert.equal(result.code, 2);
  assert.deepEqual(result.stdout, []);
  assert.match(result.stderr[0], /"0 25 \* \* \*".*hour/);
});

Deno.test("cron command exits 2 on six fields", () => {
  const result = run(["0 0 9 * * *"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr[0], /6 fields/);
});

Deno.test("cron command exits 2 on bad options", () => {
  const cases: Array<[string[], RegExp]> = [
    [["0 0 * * *", "--bogus"], /bogus/],
    [["0 0 * * *", "--count", "0"], /--count "0"/],
    [["0 0 * * *", "--count", "ten"], /--count "ten"/],
    [["0 0 * * *", "--count", "1001"], /--count "1001"/],
    [["0 0 * * *", "--tz", "Mars/Olympus"], /"Mars\/Olympus"/],
    [["0 0 * * *", "--from", "yesterday"], /--from "yesterday"/],
    [["0 0 * * *", "--from", "2024-02-30T00:00"], /--from "2024-02-30/],
    [[], /Missing cron expression/],
    [["0", "0", "*", "*", "*"], /got 5 arguments/],
  ];
  for (const [args, pattern] of cases) {
    const result = run(args);
    assert.equal(result.code, 2, args.join(" "));
    assert.deepEqual(result.stdout, [], args.join(" "));
    assert.match(result.stderr[0], pattern);
    assert.match(result.stderr.at(-1) ?? "", /--help/);
  }
});

Deno.test("cron command --help lists options", () => {
  const result = run(["--help"]);
  assert.equal(result.code, 0);
  const help = result.stdout.join("\n");
  assert.match(help, /--tz ZONE .*\(default: UTC\)/);
  assert.match(help, /--count N .*\(default: 10\)/);
  assert.match(help, /--from TIME/);
  assert.match(help, /\(default: now\)/);
  assert.match(help, /-h, --help/);
  assert.deepEqual(result.stderr, []);
});
