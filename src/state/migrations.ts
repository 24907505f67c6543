/**
 * The versioned schema of the state database.
 *
 * `PRAGMA user_version` records how many migrations a database has had. Each
 * migration runs once, in order, inside the transaction that also raises
 * `user_version`, so a crash leaves the database at the old or the new
 * version and never in between. Never edit a released migration: append a
 * new one.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { StateStoreError } from "./state_store_error.ts";

/** One step of the schema, applied to databases older than `version`. */
export interface Migration {
  /** The `user_version` the database has after this step. */
  version: number;
  /** SQL statements, run with `exec` inside the migration transaction. */
  sql: string;
}

/**
 * The schema steps, in order. Times are stored as integer milliseconds since
 * the Unix epoch, in UTC.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      CREATE TABLE finished_jobs (
        job_id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('Completed', 'Failed')),
        finished_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX finished_jobs_by_finished_at
        ON finished_jobs (finished_at);

      CREATE TABLE running_jobs (
        job_id TEXT PRIMARY KEY,
        container_id TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        job_json TEXT NOT NULL
      ) STRICT;

      CREATE TABLE log_progress (
        job_id TEXT PRIMARY KEY,
        stdout_bytes INTEGER NOT NULL CHECK (stdout_bytes >= 0),
        stderr_bytes INTEGER NOT NULL CHECK (stderr_bytes >= 0),
        last_timestamp TEXT
      ) STRICT;

      CREATE TABLE schedules (
        job_id TEXT PRIMARY KEY,
        expression TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        last_fire_at INTEGER
      ) STRICT;

      -- AUTOINCREMENT keeps sequence numbers from being reused after the
      -- outbox empties, so an old number can never acknowledge a new item.
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('log', 'status')),
        entry_json TEXT,
        status TEXT,
        enqueued_at INTEGER NOT NULL,
        CHECK (
          (kind = 'log' AND entry_json IS NOT NULL AND status IS NULL) OR
          (kind = 'status' AND status IS NOT NULL AND entry_json IS NULL)
        )
      ) STRICT;
      CREATE INDEX outbox_by_job ON outbox (job_id, seq);
    `,
  },
  {
    // Adoption skips output by lines, not bytes: reading a container's log
    // again yields the same lines per stream, while bytes shift with masking.
    version: 2,
    sql: `
      ALTER TABLE log_progress RENAME COLUMN stdout_bytes TO stdout_lines;
      ALTER TABLE log_progress RENAME COLUMN stderr_bytes TO stderr_lines;
    `,
  },
];

/** The schema version this code writes and the newest it can read. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/**
 * Brings the database up to {@link SCHEMA_VERSION}, in one transaction.
 *
 * @param database an open database, not inside a transaction
 * @param path the database file, for error messages
 * @throws {StateStoreError} when the database has a newer version than this
 *   code reads
 */
export function migrate(database: DatabaseSync, path: string): void {
  // IMMEDIATE takes the write lock before reading the version, so two
  // processes opening the same new file cannot both apply a migration.
  database.exec("BEGIN IMMEDIATE");
  try {
    const current = readUserVersion(database);
    if (current > SCHEMA_VERSION) {
      throw new StateStoreError(
        `State database "${path}" has schema version ${current}, but this ` +
          `orchestrator reads versions up to ${SCHEMA_VERSION}. Run a newer ` +
          `orchestrator, or move the file aside to start with an empty ` +
          `state, but the orchestrator then no longer knows the jobs it ran ` +
          `before`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      database.exec(migration.sql);
      // PRAGMA takes no bound parameters, so the integer constant is inlined.
      database.exec(`PRAGMA user_version = ${migration.version}`);
    }
    database.exec("COMMIT");
  } catch (error) {
    // SQLite ends the transaction itself after some errors, such as a full
    // disk. A second ROLLBACK would then fail and hide the original error.
    if (database.isTransaction) database.exec("ROLLBACK");
    throw error;
  }
}

/** Returns the database's `PRAGMA user_version`. */
export function readUserVersion(database: DatabaseSync): number {
  const row = database.prepare("PRAGMA user_version").get();
  const version = row?.user_version;
  if (typeof version !== "number") {
    throw new TypeError(
      `Expected PRAGMA user_version to return a number, got "${version}"`,
    );
  }
  return version;
}
