/**
 * Reads one field of a five-field cron expression with the grammar of
 * NCrontab 3, the .NET library that the IAM API server and the previous
 * orchestrator used, and expands it to the set of values it matches.
 *
 * The grammar is a comma-separated list of items. An item is `*`, a value
 * or a range `a-b`, each optionally followed by a step `/n`. Where this
 * module departs from NCrontab, it adds a warning:
 *
 * - A step on a single value runs to the end of the field, as in NCrontab:
 *   `5/15` in minutes is 5,20,35,50.
 * - A step of zero or less matches every value, as in NCrontab.
 * - Month and day names match by case-insensitive prefix, the first name in
 *   calendar order winning, as in NCrontab: `Mon`, `monday` and `M` are all
 *   Monday, `Ju` is June.
 * - A reversed range such as `FRI-SUN` wraps around (Fri, Sat, Sun).
 *   NCrontab swapped its ends instead (Sun to Fri), so this adds a warning.
 * - 7 is accepted as Sunday in the day-of-week field. NCrontab rejected it,
 *   so no expression it accepted changes meaning.
 *
 * @module
 */
import {
  CronExpressionError,
  type CronField,
} from "./cron_expression_error.ts";

/** The shape of one field: its bounds and, for month and weekday, names. */
export interface CronFieldSpec {
  readonly field: CronField;
  readonly min: number;
  /** The largest value written in the field (7 for Sunday in day of week). */
  readonly max: number;
  /** The largest distinct value (6 in day of week, where 7 is 0). */
  readonly lastDistinct: number;
  readonly names: readonly string[] | null;
}

const MONTH_NAMES = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
] as const;

const DAY_NAMES = [
  "Sunday",
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
] as const;

/** The five fields in the order they appear in an expression. */
export const CRON_FIELD_SPECS: readonly CronFieldSpec[] = [
  { field: "minute", min: 0, max: 59, lastDistinct: 59, names: null },
  { field: "hour", min: 0, max: 23, lastDistinct: 23, names: null },
  { field: "day of month", min: 1, max: 31, lastDistinct: 31, names: null },
  { field: "month", min: 1, max: 12, lastDistinct: 12, names: MONTH_NAMES },
  { field: "day of week", min: 0, max: 7, lastDistinct: 6, names: DAY_NAMES },
];

/** The values one field matches. */
export interface ParsedCronField {
  /** Sorted distinct values; Sunday is always 0. */
  readonly values: readonly number[];
  /** True when the field matches every value, as `*` does. */
  readonly matchesAll: boolean;
  /** Notes on readings that differ from NCrontab's or look like mistakes. */
  readonly warnings: readonly string[];
}

interface FieldContext {
  readonly spec: CronFieldSpec;
  readonly text: string;
  readonly expression: string;
  readonly warnings: string[];
}

const UNSUPPORTED_EXTENSIONS = /[LW#?]/i;

function fail(context: FieldContext, detail: string): never {
  const { spec, expression } = context;
  throw new CronExpressionError(
    `Invalid cron expression "${expression}": ${spec.field} ${detail}`,
    { expression, field: spec.field },
  );
}

/** Quotes a part of the field, adding the whole field when they differ. */
function quote(context: FieldContext, part: string): string {
  return part === context.text
    ? `"${part}"`
    : `"${part}" (in "${context.text}")`;
}

function expectedValues(spec: CronFieldSpec): string {
  const range = `${spec.min} to ${spec.max}`;
  if (spec.field === "day of week") {
    return `${range} (0 and 7 are Sunday) or a day name such as Mon or Monday`;
  }
  if (spec.field === "month") {
    return `${range} or a month name such as Jan or January`;
  }
  return range;
}

function parseValue(context: FieldContext, token: string): number {
  const { spec } = context;
  if (/^\d+$/.test(token)) {
    const value = Number(token);
    if (value < spec.min || value > spec.max) {
      fail(
        context,
        `${quote(context, token)} is out of range, expected ${spec.min} ` +
          `to ${spec.max}`,
      );
    }
    return value;
  }

  const lower = token.toLowerCase();
  if (spec.names !== null && /^[a-z]/i.test(token)) {
    const index = spec.names.findIndex((name) =>
      name.toLowerCase().startsWith(lower)
    );
    if (index >= 0) return spec.min + index;
  }

  const hint = UNSUPPORTED_EXTENSIONS.test(token)
    ? " (the L, W, # and ? extensions are not supported)"
    : "";
  const kind = spec.names === null ? "a number" : "a number or a name";
  fail(
    context,
    `${quote(context, token)} is not ${kind}, expected ` +
      `${expectedValues(spec)}${hint}`,
  );
}

/** Lists values for a message, as names or with runs of three or more as a-b. */
function describeValues(spec: CronFieldSpec, values: readonly number[]) {
  if (spec.names !== null) {
    return values
      .map((value) => spec.names![value - spec.min].slice(0, 3))
      .join(", ");
  }
  const parts: string[] = [];
  let runStart = 0;
  for (let index = 1; index <= values.length; index++) {
    if (index < values.length && values[index] === values[index - 1] + 1) {
      continue;
    }
    const run = values.slice(runStart, index);
    parts.push(
      run.length >= 3 ? `${run[0]}-${run[run.length - 1]}` : run.join(","),
    );
    runStart = index;
  }
  return parts.join(",");
}

function stepRange(start: number, end: number, step: number): number[] {
  const values: number[] = [];
  for (let value = start; value <= end; value += step) values.push(value);
  return values;
}

/**
 * Expands a range whose start is after its end by wrapping around the end
 * of the field, and warns that NCrontab swapped the ends instead.
 */
function wrapRange(
  context: FieldContext,
  item: string,
  range: { start: number; end: number; step: number },
): number[] {
  const { spec } = context;
  const { start, end, step } = range;
  const size = spec.lastDistinct - spec.min + 1;
  const length = (end - start + size) % size + 1;
  const values: number[] = [];
  for (let offset = 0; offset < length; offset += step) {
    values.push(spec.min + (start - spec.min + offset) % size);
  }

  const swapped = stepRange(end, start, step);
  const stepText = step > 1 ? `/${step}` : "";
  context.warnings.push(
    `The ${spec.field} range "${item}" in "${context.expression}" wraps ` +
      `around here (${describeValues(spec, values)}), but the previous ` +
      `orchestrator (NCrontab) swapped its ends and read it as ` +
      `${end}-${start}${stepText} (${describeValues(spec, swapped)})`,
  );
  return values;
}

function parseStep(context: FieldContext, item: string, text: string) {
  // NCrontab reads the step with int.Parse, which takes a sign.
  if (!/^[+-]?\d+$/.test(text)) {
    fail(
      context,
      `step ${quote(context, text)} is not a whole number, expected a step ` +
        `as in */15`,
    );
  }
  const step = Number(text);
  if (step >= 1) return step;
  context.warnings.push(
    `The ${context.spec.field} item "${item}" in "${context.expression}" ` +
      `has step ${step}, which matches every value in its range, as it did ` +
      `in the previous orchestrator (NCrontab)`,
  );
  return 1;
}

function parseItem(context: FieldContext, item: string): number[] {
  const { spec } = context;
  if (item === "") {
    fail(
      context,
      `"${context.text}" has an empty list item, expected a value ` +
        `between commas`,
    );
  }

  let base = item;
  let step: number | null = null;
  const slash = item.indexOf("/");
  if (slash === 0) {
    fail(
      context,
      `${quote(context, item)} is a step without a start, expected ` +
        `"*${item}"`,
    );
  }
  if (slash > 0) {
    step = parseStep(context, item, item.slice(slash + 1));
    base = item.slice(0, slash);
  }

  if (base === "*") return stepRange(spec.min, spec.lastDistinct, step ?? 1);

  const dash = base.indexOf("-");
  if (dash > 0) {
    let start = parseValue(context, base.slice(0, dash));
    const end = parseValue(context, base.slice(dash + 1));
    // A day-of-week range may start at Sunday written as 7.
    if (spec.field === "day of week" && start === 7) start = 0;
    if (start <= end) return stepRange(start, end, step ?? 1);
    return wrapRange(context, item, { start, end, step: step ?? 1 });
  }

  let value = parseValue(context, base);
  if (spec.field === "day of week" && value === 7) value = 0;
  if (step === null) return [value];
  return stepRange(value, spec.lastDistinct, step);
}

/**
 * Expands one field of a cron expression to the values it matches.
 *
 * @param text the field as written, without whitespace
 * @param options.spec the field's bounds and names, from `CRON_FIELD_SPECS`
 * @param options.expression the whole expression, for messages
 * @throws {CronExpressionError} when the field is invalid
 */
export function parseCronField(
  text: string,
  options: { spec: CronFieldSpec; expression: string },
): ParsedCronField {
  const context: FieldContext = { ...options, text, warnings: [] };
  const { spec } = context;

  const found = new Set<number>();
  for (const item of text.split(",")) {
    for (const value of parseItem(context, item)) {
      // Sunday written as 7 (at the end of a range) is the same day as 0.
      found.add(spec.field === "day of week" ? value % 7 : value);
    }
  }

  const values = [...found].sort((a, b) => a - b);
  const matchesAll = values.length === spec.lastDistinct - spec.min + 1;
  return { values, matchesAll, warnings: context.warnings };
}
