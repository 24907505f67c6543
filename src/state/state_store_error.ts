/**
 * The error raised when the state store cannot be opened or used.
 *
 * @module
 */

/**
 * A failure of the state store: a database that cannot be opened, is not a
 * SQLite database, is corrupt, was written by a newer orchestrator, or lies in
 * a directory the process may not write. The message names the file or
 * directory and what to do, and `cause` is the underlying error.
 */
export class StateStoreError extends Error {
  /**
   * Creates the error.
   *
   * @param message what failed, on which path, and what to do next
   * @param options.cause the underlying error, when there is one
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "StateStoreError";
  }
}
