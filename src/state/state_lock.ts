/**
 * One daemon per state directory. Two daemons on one directory would both
 * resume the same containers and send the same outbox, so the second one
 * stops at startup.
 *
 * The lock is an exclusive SQLite lock on a file of its own beside the
 * state database, so that other connections to the database are not
 * affected. The operating system releases it when the process ends, also
 * after SIGKILL, so a crash never leaves a stale lock behind.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { StateStoreError } from "./state_store_error.ts";

/** The lock file's name inside the state directory. */
export const LOCK_FILE_NAME = "daemon.lock";

/** A lock on a state directory, taken by {@linkcode lockStateDirectory}. */
export interface StateLock {
  /** Releases the lock. Later calls do nothing. */
  release(): void;
}

/**
 * Takes the state directory's lock, which must exist as a directory.
 *
 * @throws {StateStoreError} when another process holds the lock, naming
 *   the directory and the setting to change
 */
export function lockStateDirectory(directory: string): StateLock {
  const path = join(directory, LOCK_FILE_NAME);
  let database: DatabaseSync | undefined;
  try {
    database = new DatabaseSync(path);
    database.exec("PRAGMA busy_timeout = 0");
    database.exec("PRAGMA locking_mode = EXCLUSIVE");
    // The write takes the exclusive lock, which the locking mode keeps
    // until the connection closes.
    database.exec("BEGIN EXCLUSIVE");
    database.exec("COMMIT");
  } catch (error) {
    database?.close();
    if (/locked|busy/i.test((error as Error).message)) {
      throw new StateStoreError(
        `State directory "${directory}" is in use by another orchestrator ` +
          `process. Stop that process, or give this one its own ` +
          `OrchestratorSettings:StateDirectory`,
        { cause: error },
      );
    }
    throw new StateStoreError(
      `Cannot lock state directory "${directory}" through ${path}: ` +
        `${(error as Error).message}`,
      { cause: error },
    );
  }
  const connection = database;
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      connection.close();
    },
  };
}
