/**
 * Persistence of registered schedules, so that a restarted orchestrator
 * can find which jobs it scheduled and when each last fired.
 *
 * @module
 */

/** One registered scheduled job. */
export interface ScheduleRecord {
  jobId: string;
  /** The cron expression as the job carried it. */
  expression: string;
  /** IANA time zone the expression is read in. */
  timeZone: string;
  /**
   * The most recent fire time the scheduler handled, whether it dispatched
   * the job or skipped the fire (paused, overlap, failed request), or null
   * before the first fire.
   */
  lastFireAt: Date | null;
}

/**
 * Storage for schedule records, keyed by job id. Methods are synchronous
 * because the SQLite implementation uses `node:sqlite`, which is.
 */
export interface ScheduleStore {
  /** Returns every stored record. */
  listSchedules(): ScheduleRecord[];
  /** Inserts the record or replaces the one with the same job id. */
  saveSchedule(record: ScheduleRecord): void;
  /** Deletes the record of a job; does nothing when there is none. */
  deleteSchedule(jobId: string): void;
}

function copyRecord(record: ScheduleRecord): ScheduleRecord {
  return {
    ...record,
    lastFireAt: record.lastFireAt === null
      ? null
      : new Date(record.lastFireAt.getTime()),
  };
}

/** A `ScheduleStore` in memory, for tests and runs without a state file. */
export class MemoryScheduleStore implements ScheduleStore {
  #records = new Map<string, ScheduleRecord>();

  /** Returns copies of the stored records, in insertion order. */
  listSchedules(): ScheduleRecord[] {
    return [...this.#records.values()].map(copyRecord);
  }

  /** Stores a copy of the record. */
  saveSchedule(record: ScheduleRecord): void {
    this.#records.set(record.jobId, copyRecord(record));
  }

  deleteSchedule(jobId: string): void {
    this.#records.delete(jobId);
  }
}
