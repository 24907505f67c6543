/**
 * Five-field cron expressions, read as the IAM API server and the previous
 * orchestrator read them with NCrontab 3, and their fire times in a zone.
 *
 * Each field is expanded to plain value lists (see `cron_fields.ts`) and
 * croner matches the result against wall-clock times. Croner runs in UTC
 * on those wall-clock times, and this module maps each one to an instant in
 * the zone, which is where the daylight saving rules live:
 *
 * - A wall-clock time that does not exist that day (clocks go forward)
 *   fires at the first instant after the gap, as Vixie cron does.
 * - A wall-clock time that occurs twice (clocks go back) fires once, at its
 *   first occurrence, so a daily job runs exactly once a day. This holds for
 *   every expression, so `0,15,30,45 * * * *` does not fire in the second pass
 *   through a repeated hour.
 *
 * @module
 */
import { Cron } from "croner";
import { CRON_FIELD_SPECS, parseCronField } from "./cron_fields.ts";
import { CronExpressionError } from "./cron_expression_error.ts";
import {
  instantToWallClock,
  resolveTimeZone,
  wallClockToInstant,
} from "./time_zone.ts";

export {
  CronExpressionError,
  type CronField,
} from "./cron_expression_error.ts";

/** A parsed cron expression bound to a time zone. */
export interface CronSchedule {
  /** The expression as it was given. */
  readonly expression: string;
  /** The five fields as plain lists, in the form handed to croner. */
  readonly normalized: string;
  /** The IANA time zone the fields are read in. */
  readonly timeZone: string;
  /** Readings that differ from NCrontab's or look like mistakes, for logs. */
  readonly warnings: readonly string[];
  /**
   * Returns the first fire time strictly after `from`, or null when the
   * expression never fires again before the year 10000.
   */
  nextFireAfter(from: Date): Date | null;
  /**
   * Returns up to `count` fire times strictly after `from`, in increasing
   * order (fewer when the expression stops firing).
   */
  nextFireTimes(from: Date, count: number): Date[];
}

const SHORTHANDS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const FIELD_ORDER = "minute, hour, day of month, month, day of week";

// A repeated period has at most 120 minute slots: Antarctica/Troll, which
// moves from UTC+2 to UTC+0, repeats two hours. The bound covers the
// wall-clock times that map to instants at or before the reference.
const MAX_SLOTS_PER_SEARCH = 1000;

// croner 11 gives every Cron instance a table of 10,000 years (about 80 KiB
// of heap), so schedules with the same plain form share one instance. That
// is safe because the instances get no callback: nextRun with an explicit
// reference reads the pattern and changes no state.
const cronByPattern = new Map<string, Cron>();

function sharedCron(normalized: string): Cron {
  let cron = cronByPattern.get(normalized);
  if (cron === undefined) {
    // NCrontab matches a day only when both day fields match, so domAndDow.
    cron = new Cron(normalized, {
      mode: "5-part",
      domAndDow: true,
      timezone: "UTC",
    });
    cronByPattern.set(normalized, cron);
  }
  return cron;
}

function invalid(expression: string, detail: string): CronExpressionError {
  return new CronExpressionError(
    `Invalid cron expression "${expression}": ${detail}`,
    { expression, field: null },
  );
}

function expandShorthand(expression: string, text: string): string {
  if (!text.startsWith("@")) return text;
  const expanded = SHORTHANDS[text.toLowerCase()];
  if (expanded !== undefined) return expanded;
  if (text.toLowerCase() === "@reboot") {
    throw invalid(
      expression,
      "@reboot has no fire times, because a scheduled job runs on a clock",
    );
  }
  throw invalid(
    expression,
    `"${text}" is not a known shorthand, expected one of ` +
      Object.keys(SHORTHANDS).join(", "),
  );
}

function splitFields(expression: string, text: string): string[] {
  const fields = text.split(/\s+/);
  if (fields.length === 5) return fields;
  if (fields.length === 6 || fields.length === 7) {
    throw invalid(
      expression,
      `it has ${fields.length} fields, but IAM API schedules have 5 ` +
        `(${FIELD_ORDER}). Remove the seconds${
          fields.length === 7 ? " and year" : ""
        } field, because an expression read seconds first fires at other ` +
        `times, often sixty times as often`,
    );
  }
  throw invalid(
    expression,
    `it has ${fields.length} field${fields.length === 1 ? "" : "s"}, ` +
      `expected 5 (${FIELD_ORDER})`,
  );
}

/**
 * Parses a five-field cron expression as NCrontab 3 reads it, plus Sunday
 * as 7 and the shorthands `@hourly`, `@daily`, `@midnight`, `@weekly`,
 * `@monthly`, `@yearly` and `@annually`.
 *
 * @example
 * ```ts
 * const schedule = parseCronExpression("30 2 * * *", {
 *   timeZone: "America/New_York",
 * });
 * schedule.nextFireAfter(new Date("2026-03-08T05:00:00Z"));
 * // 2026-03-08T07:00:00Z, because 02:30 does not exist that day
 * ```
 *
 * @param text the expression, five fields separated by whitespace
 * @param options.timeZone IANA zone the fields are read in; default "UTC"
 * @throws {CronExpressionError} when the expression is invalid
 * @throws {RangeError} when the time zone is unknown
 */
export function parseCronExpression(
  text: string,
  options: { timeZone?: string } = {},
): CronSchedule {
  if (typeof text !== "string") {
    throw new TypeError(
      `Invalid cron expression ${String(text)}: expected a string`,
    );
  }
  const timeZone = resolveTimeZone(options.timeZone ?? "UTC");

  const trimmed = text.trim();
  if (trimmed === "") {
    throw invalid(text, `it is empty, expected 5 fields (${FIELD_ORDER})`);
  }
  const fieldTexts = splitFields(text, expandShorthand(text, trimmed));

  const warnings: string[] = [];
  const patternFields = fieldTexts.map((fieldText, index) => {
    const parsed = parseCronField(fieldText, {
      spec: CRON_FIELD_SPECS[index],
      expression: text,
    });
    warnings.push(...parsed.warnings);
    return parsed.matchesAll ? "*" : parsed.values.join(",");
  });
  const normalized = patternFields.join(" ");

  let cron: Cron;
  try {
    cron = sharedCron(normalized);
  } catch (error) {
    throw new CronExpressionError(
      `Invalid cron expression "${text}": croner rejected its plain form ` +
        `"${normalized}": ${(error as Error).message}`,
      { expression: text, field: null, cause: error },
    );
  }

  if (cron.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) {
    warnings.push(
      `The cron expression "${text}" never fires, because no date matches ` +
        `its day of month, month and day of week together`,
    );
  }

  function nextFireAfter(from: Date): Date | null {
    const fromMs = from.getTime();
    if (Number.isNaN(fromMs)) {
      throw new RangeError(
        `Invalid reference time "${from}": expected a valid Date`,
      );
    }
    let wallReference = new Date(instantToWallClock(fromMs, timeZone));
    for (let slot = 0; slot < MAX_SLOTS_PER_SEARCH; slot++) {
      const wall = cron.nextRun(wallReference);
      if (wall === null) return null;
      const instant = wallClockToInstant(wall.getTime(), timeZone);
      // An instant at or before the reference belongs to a wall-clock time
      // whose first occurrence has passed (or to a gap that has ended).
      if (instant !== null && instant > fromMs) return new Date(instant);
      wallReference = wall;
    }
    // NOTE: not reached for real zones, whose repeated hours have fewer
    // slots than the bound; null here means "no fire time found".
    return null;
  }

  function nextFireTimes(from: Date, count: number): Date[] {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(
        `Invalid count ${count}: expected a whole number of 0 or more`,
      );
    }
    const times: Date[] = [];
    let reference = from;
    while (times.length < count) {
      const next = nextFireAfter(reference);
      if (next === null) break;
      times.push(next);
      reference = next;
    }
    return times;
  }

  return {
    expression: text,
    normalized,
    timeZone,
    warnings,
    nextFireAfter,
    nextFireTimes,
  };
}
