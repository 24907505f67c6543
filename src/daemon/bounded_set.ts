/**
 * A set that forgets its oldest members past a size limit, for records that
 * must not grow without bound in a long-running daemon.
 *
 * @module
 */

/** A set of at most `limit` members; adding past it drops the oldest. */
export class BoundedSet<T> {
  readonly #limit: number;
  readonly #members = new Set<T>();

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`Limit must be a positive integer, got ${limit}`);
    }
    this.#limit = limit;
  }

  get size(): number {
    return this.#members.size;
  }

  has(value: T): boolean {
    return this.#members.has(value);
  }

  add(value: T): void {
    this.#members.delete(value);
    this.#members.add(value);
    if (this.#members.size > this.#limit) {
      // A Set iterates in insertion order, so the first member is the oldest.
      const oldest = this.#members.values().next().value as T;
      this.#members.delete(oldest);
    }
  }

  delete(value: T): void {
    this.#members.delete(value);
  }
}
