/**
 * Opening the state database file: the directory, the SQLite settings, the
 * integrity check and the schema. Each error names the path and the fix.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { migrate } from "./migrations.ts";
import { StateStoreError } from "./state_store_error.ts";

/** The database file's name inside the state directory. */
export const DATABASE_FILE_NAME = "orchestrator.db";

// SQLite primary result codes, as node:sqlite reports them in `errcode`.
const SQLITE_BUSY = 5;
const SQLITE_CORRUPT = 11;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

const MOVE_ASIDE_HINT = "Move it aside to start with an empty state, but " +
  "the orchestrator then no longer knows the jobs it ran before";

/** Settings for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * How long a statement waits for a lock held by another connection to the
   * same file before it fails, in milliseconds.
   * @default 5000
   */
  busyTimeoutMs?: number;
}

/**
 * Opens or creates `orchestrator.db` in `directory` and brings its schema up
 * to date.
 *
 * Creates the directory with mode 0700 when it is missing and a new database
 * file with mode 0600, because the file contains job definitions. Sets WAL
 * journaling and `synchronous=FULL`, so a committed transaction survives a
 * power loss, and runs `PRAGMA quick_check`.
 *
 * @returns the open database and the path of its file
 * @throws {StateStoreError} when the directory or file cannot be used, the
 *   file is not a SQLite database or is corrupt, or its schema is newer than
 *   this code
 */
export function openDatabase(
  directory: string,
  options: OpenDatabaseOptions = {},
): { database: DatabaseSync; path: string } {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new RangeError(
      `Invalid busyTimeoutMs "${busyTimeoutMs}": expected a non-negative ` +
        `integer number of milliseconds`,
    );
  }

  ensureDirectory(directory);
  const path = join(directory, DATABASE_FILE_NAME);
  const isNew = !exists(path, directory);

  let database: DatabaseSync;
  try {
    database = new DatabaseSync(path);
  } catch (error) {
    throw describeOpenError(error, path, directory);
  }

  try {
    if (isNew && Deno.build.os !== "windows") Deno.chmodSync(path, 0o600);
    database.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    // The first statement that reads the file: a file that is not a
    // database fails here with SQLITE_NOTADB.
    database.exec("PRAGMA journal_mode = WAL");
    database.exec("PRAGMA synchronous = FULL");
    checkIntegrity(database, path);
    migrate(database, path);
  } catch (error) {
    database.close();
    throw describeOpenError(error, path, directory);
  }
  return { database, path };
}

function ensureDirectory(directory: string): void {
  try {
    const info = Deno.statSync(directory);
    if (!info.isDirectory) {
      throw new StateStoreError(
        `State directory "${directory}" is not a directory. Set ` +
          `OrchestratorSettings:StateDirectory to a directory path`,
      );
    }
    return;
  } catch (error) {
    if (error instanceof StateStoreError) throw error;
    if (!(error instanceof Deno.errors.NotFound)) {
      throw describeOpenError(error, directory, directory);
    }
  }
  try {
    Deno.mkdirSync(directory, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw describeOpenError(error, directory, directory);
  }
}

function exists(path: string, directory: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw describeOpenError(error, path, directory);
  }
}

function checkIntegrity(database: DatabaseSync, path: string): void {
  const rows = database.prepare("PRAGMA quick_check").all();
  const problems = rows
    .map((row) => String(row.quick_check))
    .filter((result) => result !== "ok");
  if (problems.length === 0) return;
  // quick_check can list up to 100 problems; the first few identify it.
  const summary = problems.slice(0, 3).join("; ");
  throw new StateStoreError(
    `State database "${path}" is corrupt (PRAGMA quick_check: ${summary}). ` +
      MOVE_ASIDE_HINT,
  );
}

/** Turns an error from opening `path` into a {@link StateStoreError}. */
function describeOpenError(
  error: unknown,
  path: string,
  directory: string,
): StateStoreError {
  if (error instanceof StateStoreError) return error;
  const detail = error instanceof Error ? error.message : String(error);

  if (error instanceof Deno.errors.NotCapable) {
    return new StateStoreError(
      `Deno denied access to the state directory "${directory}" ` +
        `(${detail}). Run the orchestrator with --allow-read=${directory} ` +
        `--allow-write=${directory}`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new StateStoreError(
      `The operating system denied access to "${path}" in the state ` +
        `directory "${directory}" (${detail}). Make the directory readable ` +
        `and writable by the user that runs the orchestrator`,
      { cause: error },
    );
  }

  const code = sqliteErrorCode(error);
  if (code === SQLITE_NOTADB || code === SQLITE_CORRUPT) {
    return new StateStoreError(
      `State database "${path}" is not a SQLite database or is corrupt ` +
        `(${detail}). ${MOVE_ASIDE_HINT}`,
      { cause: error },
    );
  }
  if (code === SQLITE_BUSY) {
    return new StateStoreError(
      `State database "${path}" stayed locked by another process ` +
        `(${detail}). Check that no other orchestrator uses the state ` +
        `directory "${directory}"`,
      { cause: error },
    );
  }
  if (code === SQLITE_CANTOPEN) {
    return new StateStoreError(
      `State database "${path}" cannot be opened (${detail}). Check that ` +
        `the directory "${directory}" exists and is readable and writable ` +
        `by the user that runs the orchestrator`,
      { cause: error },
    );
  }
  return new StateStoreError(
    `State database "${path}" cannot be opened (${detail}). If the error ` +
      `persists, check the file and the disk. ${MOVE_ASIDE_HINT}`,
    { cause: error },
  );
}

// SQLite's text for each result code, as returned by sqlite3_errstr().
const CODE_BY_MESSAGE: ReadonlyArray<[string, number]> = [
  ["file is not a database", SQLITE_NOTADB],
  ["database disk image is malformed", SQLITE_CORRUPT],
  ["database is locked", SQLITE_BUSY],
  ["unable to open database file", SQLITE_CANTOPEN],
];

/** Returns the SQLite result code of a node:sqlite error, if it has one. */
function sqliteErrorCode(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { errcode?: unknown }).errcode;
  // Extended result codes carry the primary code in the low byte.
  if (typeof code === "number") return code & 0xff;
  // In Deno 2.9.6, errors from DatabaseSync.exec carry no errcode, only
  // SQLite's message, so the message is matched instead.
  const match = CODE_BY_MESSAGE.find(([text]) => error.message.includes(text));
  return match?.[1];
}
