/**
 * Conversions between instants and wall-clock times in an IANA time zone.
 *
 * A wall-clock time is carried as the number of milliseconds that the same
 * calendar fields would have in UTC (`Date.UTC(year, month, ...)`), so that
 * calendar arithmetic on it is free of daylight saving transitions.
 *
 * @module
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/**
 * Checks an IANA time zone name and returns the name the runtime uses for it.
 *
 * @throws {RangeError} when the runtime does not know the zone
 */
export function resolveTimeZone(timeZone: string): string {
  if (typeof timeZone !== "string" || timeZone.trim() === "") {
    throw new RangeError(
      `Invalid time zone "${timeZone}": expected an IANA name such as ` +
        `"UTC" or "Europe/Oslo"`,
    );
  }
  try {
    const resolved = new Intl.DateTimeFormat("en-US", { timeZone })
      .resolvedOptions().timeZone;
    formatterFor(resolved);
    return resolved;
  } catch {
    throw new RangeError(
      `Invalid time zone "${timeZone}": it is not an IANA time zone name ` +
        `known to this runtime; use a name such as "UTC" or "Europe/Oslo"`,
    );
  }
}

/** Returns true for the names of zones that are UTC all year. */
export function isUtcTimeZone(timeZone: string): boolean {
  return /^(?:Etc\/)?(?:UTC|UCT|GMT|Universal|Zulu|Greenwich)$/i.test(
    timeZone,
  );
}

/**
 * Returns the zone's offset from UTC at an instant, in milliseconds
 * (positive east of Greenwich).
 */
export function zoneOffsetMs(instantMs: number, timeZone: string): number {
  if (timeZone === "UTC") return 0;
  const wholeSecondMs = Math.floor(instantMs / 1000) * 1000;
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(wholeSecondMs)) {
    if (part.type !== "literal") fields[part.type] = Number(part.value);
  }
  const wallMs = Date.UTC(
    fields.year,
    fields.month - 1,
    fields.day,
    fields.hour,
    fields.minute,
    fields.second,
  );
  return wallMs - wholeSecondMs;
}

/** Returns the wall-clock time (see the module notes) of an instant. */
export function instantToWallClock(
  instantMs: number,
  timeZone: string,
): number {
  return instantMs + zoneOffsetMs(instantMs, timeZone);
}

/**
 * Finds the instant at which a wall-clock time occurs in a zone.
 *
 * A time that occurs twice (when clocks go back) maps to its first
 * occurrence. A time that does not exist (when clocks go forward) maps to
 * the first instant after the gap, which is the instant of the transition.
 *
 * @returns the instant in milliseconds since the epoch, or null when no
 *   instant is found because the zone changed its offset more than once
 *   within a day around the time
 */
export function wallClockToInstant(
  wallMs: number,
  timeZone: string,
): number | null {
  const offsets = new Set([
    zoneOffsetMs(wallMs - DAY_MS, timeZone),
    zoneOffsetMs(wallMs, timeZone),
    zoneOffsetMs(wallMs + DAY_MS, timeZone),
  ]);

  let first: number | null = null;
  for (const offset of offsets) {
    const instant = wallMs - offset;
    if (zoneOffsetMs(instant, timeZone) !== offset) continue;
    if (first === null || instant < first) first = instant;
  }
  if (first !== null) return first;

  // The time is in a gap. Before the transition the wall clock reads earlier
  // than `wallMs` and after it later, so a binary search over the instants
  // between the two readings finds the transition.
  const smallest = Math.min(...offsets);
  const largest = Math.max(...offsets);
  if (smallest === largest) return null;
  let before = wallMs - largest;
  let after = wallMs - smallest;
  if (instantToWallClock(after, timeZone) <= wallMs) return null;
  while (after - before > 1) {
    const middle = Math.floor((before + after) / 2);
    if (instantToWallClock(middle, timeZone) > wallMs) {
      after = middle;
    } else {
      before = middle;
    }
  }
  return after;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, "0");
}

/**
 * Formats an instant as ISO 8601 local time with the zone's offset, to the
 * second: `2026-03-08T03:00:00-04:00`.
 */
export function formatLocalTime(instant: Date, timeZone: string): string {
  const instantMs = instant.getTime();
  const offsetMinutes = Math.round(zoneOffsetMs(instantMs, timeZone) / 60000);
  const wall = new Date(instantToWallClock(instantMs, timeZone));
  const sign = offsetMinutes < 0 ? "-" : "+";
  const absolute = Math.abs(offsetMinutes);
  return `${pad(wall.getUTCFullYear(), 4)}-${pad(wall.getUTCMonth() + 1)}-` +
    `${pad(wall.getUTCDate())}T${pad(wall.getUTCHours())}:` +
    `${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}` +
    `${sign}${pad(Math.floor(absolute / 60))}:${pad(absolute % 60)}`;
}

/** Formats an instant as ISO 8601 UTC to the second: `2024-02-29T00:00:00Z`. */
export function formatUtcTime(instant: Date): string {
  return instant.toISOString().replace(/\.\d{3}Z$/, "Z");
}
