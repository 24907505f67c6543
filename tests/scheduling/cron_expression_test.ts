import assert from "node:assert/strict";
import {
  CronExpressionError,
  type CronField,
  parseCronExpression,
} from "../../src/scheduling/cron_expression.ts";

interface FireTimeCase {
  /** The rule the row pins. */
  rule: string;
  expression: string;
  timeZone?: string;
  from: string;
  expected: string[];
}

const FIRE_TIME_CASES: FireTimeCase[] = [
  {
    rule: "day 31 fires only in months that have it",
    expression: "0 0 31 * *",
    from: "2024-01-31T00:00:00Z",
    expected: [
      "2024-03-31T00:00:00Z",
      "2024-05-31T00:00:00Z",
      "2024-07-31T00:00:00Z",
      "2024-08-31T00:00:00Z",
    ],
  },
  {
    rule: "29 February fires only in leap years",
    expression: "0 0 29 2 *",
    from: "2013-08-29T00:00:00Z",
    expected: [
      "2016-02-29T00:00:00Z",
      "2020-02-29T00:00:00Z",
      "2024-02-29T00:00:00Z",
    ],
  },
  {
    rule: "asked at 23:59 on a Monday, a Monday job fires the next Monday",
    expression: "15 9 * * mon",
    from: "2024-01-01T23:59:00Z",
    expected: ["2024-01-08T09:15:00Z", "2024-01-15T09:15:00Z"],
  },
  {
    rule: "the reference time itself is excluded",
    expression: "0 0 * * *",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-02T00:00:00Z"],
  },
  {
    rule: "a fire time earlier in the reference's second is excluded",
    expression: "0 0 * * *",
    from: "2024-01-01T00:00:00.500Z",
    expected: ["2024-01-02T00:00:00Z"],
  },
  {
    rule: "a step on a single value runs from it to the end (5/15)",
    expression: "5/15 * * * *",
    from: "2024-01-01T00:00:00Z",
    expected: [
      "2024-01-01T00:05:00Z",
      "2024-01-01T00:20:00Z",
      "2024-01-01T00:35:00Z",
      "2024-01-01T00:50:00Z",
      "2024-01-01T01:05:00Z",
    ],
  },
  {
    rule: "a step on * starts at the field's first value",
    expression: "*/15 * * * *",
    from: "2024-01-01T00:00:00Z",
    expected: [
      "2024-01-01T00:15:00Z",
      "2024-01-01T00:30:00Z",
      "2024-01-01T00:45:00Z",
      "2024-01-01T01:00:00Z",
    ],
  },
  {
    rule: "a step on a range",
    expression: "0 1-10/4 * * *",
    from: "2024-01-01T00:00:00Z",
    expected: [
      "2024-01-01T01:00:00Z",
      "2024-01-01T05:00:00Z",
      "2024-01-01T09:00:00Z",
      "2024-01-02T01:00:00Z",
    ],
  },
  {
    rule: "a step of 0 matches every value, as NCrontab reads it",
    expression: "*/0 0 * * *",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"],
  },
  {
    rule: "day names as a range (MON-FRI) skip the weekend",
    expression: "0 9 * * MON-FRI",
    from: "2024-01-05T09:00:00Z",
    expected: ["2024-01-08T09:00:00Z", "2024-01-09T09:00:00Z"],
  },
  {
    rule: "full day names (Monday)",
    expression: "0 9 * * Monday",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-01T09:00:00Z", "2024-01-08T09:00:00Z"],
  },
  {
    rule: "day name prefixes in any case (tues)",
    expression: "0 9 * * tues",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-02T09:00:00Z"],
  },
  {
    rule: "a one-letter prefix picks the first name in order (T is Tuesday)",
    expression: "0 9 * * T",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-02T09:00:00Z"],
  },
  {
    rule: "month names and prefixes (jan,July)",
    expression: "0 0 1 jan,July *",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"],
  },
  {
    rule: "Sunday as 7",
    expression: "0 0 * * 7",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"],
  },
  {
    rule: "Sunday as 0",
    expression: "0 0 * * 0",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-07T00:00:00Z"],
  },
  {
    rule: "a reversed day range wraps around (FRI-SUN)",
    expression: "0 9 * * FRI-SUN",
    from: "2024-01-01T00:00:00Z",
    expected: [
      "2024-01-05T09:00:00Z",
      "2024-01-06T09:00:00Z",
      "2024-01-07T09:00:00Z",
      "2024-01-12T09:00:00Z",
    ],
  },
  {
    rule: "a reversed minute range wraps around (55-5)",
    expression: "55-5 0 * * *",
    from: "2024-01-01T00:04:00Z",
    expected: [
      "2024-01-01T00:05:00Z",
      "2024-01-01T00:55:00Z",
      "2024-01-01T00:56:00Z",
    ],
  },
  {
    rule: "day of month and day of week combine with AND (Friday 13th)",
    expression: "0 0 13 * 5",
    from: "2024-01-01T00:00:00Z",
    expected: [
      "2024-09-13T00:00:00Z",
      "2024-12-13T00:00:00Z",
      "2025-06-13T00:00:00Z",
    ],
  },
  {
    rule: "@hourly",
    expression: "@hourly",
    from: "2024-01-01T00:30:00Z",
    expected: ["2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"],
  },
  {
    rule: "@daily",
    expression: "@daily",
    from: "2024-01-01T00:30:00Z",
    expected: ["2024-01-02T00:00:00Z"],
  },
  {
    rule: "@midnight is @daily",
    expression: "@midnight",
    from: "2024-01-01T00:30:00Z",
    expected: ["2024-01-02T00:00:00Z"],
  },
  {
    rule: "@weekly fires on Sunday",
    expression: "@weekly",
    from: "2024-01-01T00:30:00Z",
    expected: ["2024-01-07T00:00:00Z"],
  },
  {
    rule: "@monthly",
    expression: "@Monthly",
    from: "2024-01-01T00:30:00Z",
    expected: ["2024-02-01T00:00:00Z"],
  },
  {
    rule: "@yearly",
    expression: "@yearly",
    from: "2024-01-01T00:30:00Z",
    expected: ["2025-01-01T00:00:00Z"],
  },
  {
    rule: "@annually is @yearly",
    expression: "@annually",
    from: "2024-01-01T00:30:00Z",
    expected: ["2025-01-01T00:00:00Z"],
  },
  {
    rule: "fields read in the zone (Oslo, winter, UTC+1)",
    expression: "0 9 * * *",
    timeZone: "Europe/Oslo",
    from: "2024-01-01T00:00:00Z",
    expected: ["2024-01-01T08:00:00Z"],
  },
  {
    rule: "Oslo spring forward: 02:30 fires at 03:00 CEST, then at 02:30",
    expression: "30 2 * * *",
    timeZone: "Europe/Oslo",
    from: "2026-03-28T12:00:00Z",
    expected: [
      "2026-03-29T01:00:00Z",
      "2026-03-30T00:30:00Z",
    ],
  },
  {
    rule: "Oslo fall back: 02:30 fires once, at its first occurrence (CEST)",
    expression: "30 2 * * *",
    timeZone: "Europe/Oslo",
    from: "2026-10-24T12:00:00Z",
    expected: [
      "2026-10-25T00:30:00Z",
      "2026-10-26T01:30:00Z",
    ],
  },
  {
    rule: "New York spring forward: 02:30 fires at 03:00 EDT, next day 02:30",
    expression: "30 2 * * *",
    timeZone: "America/New_York",
    from: "2026-03-08T05:00:00Z",
    expected: [
      "2026-03-08T07:00:00Z",
      "2026-03-09T06:30:00Z",
      "2026-03-10T06:30:00Z",
    ],
  },
  {
    rule: "New York fall back: 01:30 fires once, at 01:30 EDT",
    expression: "30 1 * * *",
    timeZone: "America/New_York",
    from: "2026-11-01T04:00:00Z",
    expected: [
      "2026-11-01T05:30:00Z",
      "2026-11-02T06:30:00Z",
    ],
  },
  {
    rule: "asked inside the repeated hour, the second 01:30 does not fire",
    expression: "30 1 * * *",
    timeZone: "America/New_York",
    from: "2026-11-01T06:10:00Z",
    expected: ["2026-11-02T06:30:00Z"],
  },
  {
    rule: "a list skips the second pass through the repeated hour",
    expression: "0,30 * * * *",
    timeZone: "America/New_York",
    from: "2026-11-01T05:10:00Z",
    expected: [
      "2026-11-01T05:30:00Z",
      "2026-11-01T07:00:00Z",
      "2026-11-01T07:30:00Z",
    ],
  },
  {
    rule: "times in the spring-forward gap collapse into one fire at 03:00",
    expression: "*/20 2-3 * * *",
    timeZone: "America/New_York",
    from: "2026-03-08T06:00:00Z",
    expected: [
      "2026-03-08T07:00:00Z",
      "2026-03-08T07:20:00Z",
      "2026-03-08T07:40:00Z",
      "2026-03-09T06:00:00Z",
    ],
  },
];

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.000Z$/, "Z");
}

for (const row of FIRE_TIME_CASES) {
  Deno.test(`nextFireTimes: ${row.rule}`, () => {
    const schedule = parseCronExpression(row.expression, {
      timeZone: row.timeZone,
    });
    const fireTimes = schedule.nextFireTimes(
      new Date(row.from),
      row.expected.length,
    );
    assert.deepEqual(fireTimes.map(isoSeconds), row.expected);
  });
}

Deno.test("nextFireAfter matches nextFireTimes", () => {
  const schedule = parseCronExpression("0 0 29 2 *");
  const next = schedule.nextFireAfter(new Date("2013-08-29T00:00:00Z"));
  assert.equal(next?.toISOString(), "2016-02-29T00:00:00.000Z");
});

Deno.test("nextFireTimes is strictly increasing across DST", () => {
  const schedule = parseCronExpression("*/5 * * * *", {
    timeZone: "America/New_York",
  });
  const times = schedule.nextFireTimes(new Date("2026-11-01T04:00:00Z"), 80);
  assert.equal(times.length, 80);
  for (let index = 1; index < times.length; index++) {
    assert.ok(
      times[index].getTime() > times[index - 1].getTime(),
      `${times[index].toISOString()} follows ${times[index - 1].toISOString()}`,
    );
  }
});

Deno.test("parseCronExpression runs a daily job once on DST days", () => {
  for (
    const [timeZone, day] of [
      ["America/New_York", "2026-03-08"],
      ["America/New_York", "2026-11-01"],
      ["Europe/Oslo", "2026-03-29"],
      ["Europe/Oslo", "2026-10-25"],
    ]
  ) {
    for (const expression of ["30 1 * * *", "30 2 * * *", "0 2 * * *"]) {
      const schedule = parseCronExpression(expression, { timeZone });
      const dayStart = new Date(`${day}T00:00:00Z`).getTime() - 86_400_000;
      const times = schedule.nextFireTimes(new Date(dayStart), 4);
      const localDays = times.map((time) =>
        new Intl.DateTimeFormat("en-CA", { timeZone }).format(time)
      );
      assert.equal(
        new Set(localDays).size,
        localDays.length,
        `${expression} in ${timeZone}: ${localDays.join(" ")}`,
      );
    }
  }
});

Deno.test("parseCronExpression keeps the text and zone", () => {
  const schedule = parseCronExpression(" 0 9 * * MON-FRI ", {
    timeZone: "Europe/Oslo",
  });
  assert.equal(schedule.expression, " 0 9 * * MON-FRI ");
  assert.equal(schedule.timeZone, "Europe/Oslo");
  assert.equal(schedule.normalized, "0 9 * * 1,2,3,4,5");
  assert.deepEqual(schedule.warnings, []);
});

Deno.test("parseCronExpression defaults to UTC", () => {
  assert.equal(parseCronExpression("0 0 * * *").timeZone, "UTC");
});

Deno.test("parseCronExpression warns on a reversed range", () => {
  const schedule = parseCronExpression("0 9 * * FRI-SUN");
  assert.equal(schedule.warnings.length, 1);
  const [warning] = schedule.warnings;
  assert.match(warning, /FRI-SUN/);
  assert.match(warning, /NCrontab/);
  assert.match(warning, /Fri, Sat, Sun/);
  assert.match(warning, /Sun, Mon, Tue, Wed, Thu, Fri/);
});

Deno.test("parseCronExpression warns on an expression that never fires", () => {
  const schedule = parseCronExpression("0 0 30 2 *");
  assert.equal(schedule.warnings.length, 1);
  assert.match(schedule.warnings[0], /never fires/);
  assert.equal(schedule.nextFireAfter(new Date("2024-01-01T00:00:00Z")), null);
  assert.deepEqual(
    schedule.nextFireTimes(new Date("2024-01-01T00:00:00Z"), 3),
    [],
  );
});

Deno.test("parseCronExpression treats 0-7 as every day", () => {
  assert.equal(parseCronExpression("0 0 * * 0-7").normalized, "0 0 * * *");
});

function assertRejected(
  expression: string,
  field: CronField | null,
  pattern: RegExp,
): void {
  assert.throws(
    () => parseCronExpression(expression),
    (error: unknown) => {
      assert.ok(error instanceof CronExpressionError, String(error));
      assert.equal(error.expression, expression);
      assert.equal(error.field, field);
      assert.ok(
        error.message.includes(`"${expression}"`),
        `message names the expression: ${error.message}`,
      );
      if (field !== null) {
        assert.ok(
          error.message.includes(field),
          `message names the field: ${error.message}`,
        );
      }
      assert.match(error.message, pattern);
      return true;
    },
  );
}

Deno.test("parseCronExpression rejects six fields", () => {
  assertRejected("0 0 9 * * *", null, /6 fields.*have 5/);
});

Deno.test("parseCronExpression rejects seven fields", () => {
  assertRejected("0 0 9 * * * 2030", null, /7 fields.*have 5/);
});

Deno.test("parseCronExpression rejects four fields", () => {
  assertRejected("0 9 * *", null, /4 fields, expected 5/);
});

Deno.test("parseCronExpression rejects an empty expression", () => {
  assertRejected("  ", null, /empty/);
});

Deno.test("parseCronExpression rejects unknown shorthands", () => {
  assertRejected("@often", null, /not a known shorthand/);
  assertRejected("@reboot", null, /@reboot/);
});

Deno.test("parseCronExpression names the invalid field", () => {
  const cases: Array<[string, CronField, RegExp]> = [
    ["60 * * * *", "minute", /"60" is out of range, expected 0 to 59/],
    ["0 24 * * *", "hour", /"24" is out of range, expected 0 to 23/],
    ["0 1-25 * * *", "hour", /"25" \(in "1-25"\)/],
    ["0 0 32 * *", "day of month", /expected 1 to 31/],
    ["0 0 0 * *", "day of month", /expected 1 to 31/],
    ["0 0 L * *", "day of month", /not supported/],
    ["0 0 1 13 *", "month", /expected 1 to 12/],
    ["0 0 1 Foo *", "month", /"Foo" is not a number or a name/],
    ["0 0 * * 8", "day of week", /expected 0 to 7/],
    ["0 0 * * Mun", "day of week", /"Mun" is not a number or a name/],
    ["0 0 * * MON#2", "day of week", /not supported/],
    ["*/x * * * *", "minute", /step "x"/],
    ["/5 * * * *", "minute", /step without a start, expected "\*\/5"/],
    ["1,,2 * * * *", "minute", /empty list item/],
    ["5a * * * *", "minute", /"5a" is not a number/],
  ];
  for (const [expression, field, pattern] of cases) {
    assertRejected(expression, field, pattern);
  }
});

Deno.test("parseCronExpression rejects an unknown time zone", () => {
  assert.throws(
    () => parseCronExpression("0 0 * * *", { timeZone: "Mars/Olympus" }),
    (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.match(error.message, /"Mars\/Olympus"/);
      return true;
    },
  );
});

Deno.test("nextFireTimes rejects a negative count", () => {
  const schedule = parseCronExpression("0 0 * * *");
  assert.throws(() => schedule.nextFireTimes(new Date(), -1), RangeError);
});
