/**
 * The SQL statements of the state store, prepared once per connection.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";

/** Every statement the state store runs after opening, by purpose. */
export interface Statements {
  begin: StatementSync;
  commit: StatementSync;
  rollback: StatementSync;

  readMeta: StatementSync;
  writeMeta: StatementSync;

  upsertFinished: StatementSync;
  readFinished: StatementSync;
  deleteFinished: StatementSync;
  pruneFinished: StatementSync;

  upsertRunning: StatementSync;
  listRunning: StatementSync;
  deleteRunning: StatementSync;
  upsertLogProgress: StatementSync;
  readLogProgress: StatementSync;
  deleteLogProgress: StatementSync;

  listSchedules: StatementSync;
  upsertSchedule: StatementSync;
  deleteSchedule: StatementSync;

  insertOutbox: StatementSync;
  pendingOutbox: StatementSync;
  pendingOutboxForJob: StatementSync;
  deleteOutbox: StatementSync;
  countOutbox: StatementSync;
}

/** Prepares every statement in {@link Statements} on `database`. */
export function prepareStatements(database: DatabaseSync): Statements {
  const sql = (text: string) => database.prepare(text);
  return {
    // IMMEDIATE takes the write lock at the start, so a transaction waits
    // for it there (busy_timeout) instead of failing with SQLITE_BUSY on its
    // first write.
    begin: sql("BEGIN IMMEDIATE"),
    commit: sql("COMMIT"),
    rollback: sql("ROLLBACK"),

    readMeta: sql("SELECT value FROM meta WHERE key = ?"),
    writeMeta: sql(
      `INSERT INTO meta (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    ),

    upsertFinished: sql(
      `INSERT INTO finished_jobs (job_id, status, finished_at) VALUES (?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE
       SET status = excluded.status, finished_at = excluded.finished_at`,
    ),
    readFinished: sql(
      "SELECT status, finished_at FROM finished_jobs WHERE job_id = ?",
    ),
    deleteFinished: sql("DELETE FROM finished_jobs WHERE job_id = ?"),
    // Keeps the newest ? rows; job_id breaks ties so the choice is stable.
    pruneFinished: sql(
      `DELETE FROM finished_jobs WHERE job_id IN (
         SELECT job_id FROM finished_jobs
         ORDER BY finished_at DESC, job_id DESC
         LIMIT -1 OFFSET ?
       )`,
    ),

    upsertRunning: sql(
      `INSERT INTO running_jobs (job_id, container_id, started_at, job_json)
       VALUES (?, ?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE
       SET container_id = excluded.container_id,
           started_at = excluded.started_at,
           job_json = excluded.job_json`,
    ),
    listRunning: sql(
      `SELECT job_id, container_id, started_at, job_json FROM running_jobs
       ORDER BY started_at, job_id`,
    ),
    deleteRunning: sql("DELETE FROM running_jobs WHERE job_id = ?"),
    upsertLogProgress: sql(
      `INSERT INTO log_progress
         (job_id, stdout_lines, stderr_lines, last_timestamp)
       VALUES (?, ?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE
       SET stdout_lines = excluded.stdout_lines,
           stderr_lines = excluded.stderr_lines,
           last_timestamp = excluded.last_timestamp`,
    ),
    readLogProgress: sql(
      `SELECT stdout_lines, stderr_lines, last_timestamp FROM log_progress
       WHERE job_id = ?`,
    ),
    deleteLogProgress: sql("DELETE FROM log_progress WHERE job_id = ?"),

    listSchedules: sql(
      `SELECT job_id, expression, time_zone, last_fire_at FROM schedules
       ORDER BY job_id`,
    ),
    upsertSchedule: sql(
      `INSERT INTO schedules (job_id, expression, time_zone, last_fire_at)
       VALUES (?, ?, ?, ?)
       ON CONFLICT (job_id) DO UPDATE
       SET expression = excluded.expression,
           time_zone = excluded.time_zone,
           last_fire_at = excluded.last_fire_at`,
    ),
    deleteSchedule: sql("DELETE FROM schedules WHERE job_id = ?"),

    insertOutbox: sql(
      `INSERT INTO outbox (job_id, kind, entry_json, status, enqueued_at)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    pendingOutbox: sql(
      `SELECT seq, job_id, kind, entry_json, status FROM outbox
       ORDER BY seq LIMIT ?`,
    ),
    pendingOutboxForJob: sql(
      `SELECT seq, job_id, kind, entry_json, status FROM outbox
       WHERE job_id = ? ORDER BY seq`,
    ),
    deleteOutbox: sql("DELETE FROM outbox WHERE seq = ?"),
    countOutbox: sql("SELECT count(*) AS depth FROM outbox"),
  };
}
