/**
 * The `iam-orchestrator cron` command: prints the next fire times of a cron
 * expression, so an operator can check a schedule before a job uses it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CronExpressionError, parseCronExpression } from "./cron_expression.ts";
import {
  formatLocalTime,
  formatUtcTime,
  isUtcTimeZone,
  resolveTimeZone,
  wallClockToInstant,
} from "./time_zone.ts";
import { VERSION } from "../version.ts";

/** Output streams of the command; each call passes one line without its newline. */
export interface CommandOutput {
  stdout(line: string): void;
  stderr(line: string): void;
}

const DEFAULT_COUNT = 10;
const MAX_COUNT = 1000;

/** Exit code for a bad expression, option or argument. */
const EXIT_USAGE = 2;

const HELP = `Usage: iam-orchestrator cron "EXPRESSION" [options]

Prints the next fire times of a five-field cron expression
(minute hour day-of-month month day-of-week), read as the IAM API reads
job schedules. Quote the expression so the shell does not expand "*".

Options:
  --tz ZONE     IANA time zone the expression is read in (default: UTC)
  --count N     number of fire times to print, 1 to ${MAX_COUNT} (default: ${DEFAULT_COUNT})
  --from TIME   ISO 8601 time to list fire times after, exclusive; a time
                without an offset is read in ZONE (default: now)
  -h, --help    print this help and exit

Each line is a fire time in UTC (2024-02-29T00:00:00Z), followed, when
ZONE is not UTC, by two spaces and the local time in ZONE with its offset.
Warnings about the expression go to standard error.

Exit codes: 0 on success, 2 for an invalid expression, option or argument.

Examples:
  iam-orchestrator cron "0 9 * * MON-FRI" --tz Europe/Oslo
  iam-orchestrator cron "0 0 29 2 *" --count 3 --from 2013-08-29T00:00:00Z`;

class UsageError extends Error {}

// Date and time without an offset: 2026-03-08, 2026-03-08T02:30 or with
// seconds and a fraction.
const LOCAL_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?$/;

function parseFrom(text: string, timeZone: string): Date {
  const local = LOCAL_TIME.exec(text);
  if (local !== null) {
    const [, year, month, day, hour, minute, second, fraction] = local;
    const wall = Date.UTC(
      Number(year),
      Number(month) - 1,
      Number(day),
      Number(hour ?? 0),
      Number(minute ?? 0),
      Number(second ?? 0),
      Number((fraction ?? "0").padEnd(3, "0")),
    );
    // Date.UTC rolls 2026-02-30 over to March; a valid time survives.
    const check = new Date(wall);
    const fieldsValid = check.getUTCMonth() === Number(month) - 1 &&
      check.getUTCDate() === Number(day) &&
      check.getUTCHours() === Number(hour ?? 0) &&
      check.getUTCMinutes() === Number(minute ?? 0);
    const instant = wallClockToInstant(wall, timeZone);
    if (fieldsValid && instant !== null) {
      return new Date(instant);
    }
  } else {
    const instant = new Date(text);
    if (!Number.isNaN(instant.getTime()) && /\d{4}-\d{2}-\d{2}/.test(text)) {
      return instant;
    }
  }
  throw new UsageError(
    `Invalid --from "${text}": expected an ISO 8601 time such as ` +
      `2026-03-08T05:00:00Z or 2026-03-08T00:00 (read in --tz)`,
  );
}

function parseCount(text: string | undefined): number {
  if (text === undefined) return DEFAULT_COUNT;
  const count = Number(text);
  if (!/^\d+$/.test(text) || count < 1 || count > MAX_COUNT) {
    throw new UsageError(
      `Invalid --count "${text}": expected a whole number from 1 to ` +
        `${MAX_COUNT}`,
    );
  }
  return count;
}

/**
 * Runs `iam-orchestrator cron` with the arguments after the command name.
 *
 * @param args e.g. `["0 9 * * MON-FRI", "--tz", "Europe/Oslo"]`
 * @param io receives the output lines
 * @returns the exit code: 0 on success, 2 for an invalid expression,
 *   option or argument
 */
export function runCronCommand(args: string[], io: CommandOutput): number {
  try {
    return listFireTimes(args, io);
  } catch (error) {
    if (
      error instanceof UsageError || error instanceof CronExpressionError ||
      error instanceof RangeError || isParseArgsError(error)
    ) {
      io.stderr(`Error: ${(error as Error).message}`);
      io.stderr(`Run "iam-orchestrator cron --help" for usage.`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

function isParseArgsError(error: unknown): boolean {
  if (!(error instanceof TypeError) || !("code" in error)) return false;
  const { code } = error;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}

function listFireTimes(args: string[], io: CommandOutput): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      tz: { type: "string" },
      count: { type: "string" },
      from: { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean" },
    },
  });

  if (values.version) {
    io.stdout(VERSION);
    return 0;
  }
  if (values.help) {
    for (const line of HELP.split("\n")) io.stdout(line);
    return 0;
  }
  if (positionals.length === 0) {
    throw new UsageError(
      `Missing cron expression: pass it as one quoted argument, e.g. ` +
        `cron "0 9 * * MON-FRI"`,
    );
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `Expected one cron expression but got ${positionals.length} ` +
        `arguments: quote the expression, e.g. cron "0 9 * * MON-FRI"`,
    );
  }

  const timeZone = resolveTimeZone(values.tz ?? "UTC");
  const count = parseCount(values.count);
  const from = values.from === undefined
    ? new Date()
    : parseFrom(values.from, timeZone);
  const schedule = parseCronExpression(positionals[0], { timeZone });

  for (const warning of schedule.warnings) io.stderr(`Warning: ${warning}`);
  const showLocal = !isUtcTimeZone(timeZone);
  const fireTimes = schedule.nextFireTimes(from, count);
  for (const fireTime of fireTimes) {
    const utc = formatUtcTime(fireTime);
    io.stdout(
      showLocal ? `${utc}  ${formatLocalTime(fireTime, timeZone)}` : utc,
    );
  }
  if (fireTimes.length < count) {
    io.stderr(
      `Note: the expression fires ${fireTimes.length} time(s) after ` +
        `${formatUtcTime(from)} before the year 10000`,
    );
  }
  return 0;
}
