/**
 * Typed access to the columns of a row returned by node:sqlite.
 *
 * The tables are STRICT, so a wrong type means the file was changed outside
 * the orchestrator. The readers then throw rather than return a wrong value.
 *
 * @module
 */
import type { SQLOutputValue } from "node:sqlite";

/** A row as node:sqlite returns it. */
export type Row = Record<string, SQLOutputValue>;

/** Returns a TEXT column's value. */
export function readText(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw unexpected(column, "text", value);
  return value;
}

/** Returns a nullable TEXT column's value. */
export function readNullableText(row: Row, column: string): string | null {
  const value = row[column];
  if (value === null) return null;
  if (typeof value !== "string") throw unexpected(column, "text", value);
  return value;
}

/** Returns an INTEGER column's value. */
export function readInteger(row: Row, column: string): number {
  const value = row[column];
  if (typeof value !== "number") throw unexpected(column, "integer", value);
  return value;
}

/** Returns a nullable INTEGER column's value. */
export function readNullableInteger(row: Row, column: string): number | null {
  const value = row[column];
  if (value === null) return null;
  if (typeof value !== "number") throw unexpected(column, "integer", value);
  return value;
}

function unexpected(
  column: string,
  expected: string,
  value: SQLOutputValue | undefined,
): TypeError {
  const description = value instanceof Uint8Array ? "a blob" : `"${value}"`;
  return new TypeError(
    `State database column "${column}" contains ${description}, expected ` +
      `${expected}; the file was changed outside the orchestrator`,
  );
}
