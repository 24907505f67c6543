/**
 * Orchestrators known from their heartbeats, and the updates requested for
 * them (second server generation).
 *
 * @module
 */

/** An orchestrator as its last heartbeat described it. */
export interface OrchestratorRecord {
  id: string;
  customerName: string | null;
  version: string | null;
  hostName: string | null;
  /** The time the orchestrator sent, as it sent it. */
  lastHeartbeat: string | null;
  /** Server time of the last heartbeat, ISO 8601 in UTC. */
  receivedAt: string;
  /** True while an update is requested and not yet acknowledged. */
  pendingUpdate: boolean;
}

/** The heartbeat fields the server reads. */
export interface Heartbeat {
  id: string;
  customerName: string | null;
  version: string | null;
  hostName: string | null;
  lastHeartbeat: string | null;
}

/** Orchestrators by id; ids are compared case-insensitively. */
export class OrchestratorRegistry {
  #orchestrators = new Map<string, OrchestratorRecord>();
  #requestedUpdates = new Set<string>();

  /**
   * Records a heartbeat. The `pendingUpdate` flag stays the server's: a
   * client clears it with `update-ack`, not with a heartbeat.
   */
  heartbeat(beat: Heartbeat, now: number): OrchestratorRecord {
    const key = beat.id.toLowerCase();
    const known = this.#orchestrators.get(key);
    const record: OrchestratorRecord = {
      ...beat,
      receivedAt: new Date(now).toISOString(),
      pendingUpdate: known?.pendingUpdate ?? this.#requestedUpdates.has(key),
    };
    this.#requestedUpdates.delete(key);
    this.#orchestrators.set(key, record);
    return record;
  }

  /** Returns the stored record itself, or undefined before a heartbeat. */
  get(id: string): OrchestratorRecord | undefined {
    return this.#orchestrators.get(id.toLowerCase());
  }

  /** Returns copies of all records. */
  all(): OrchestratorRecord[] {
    return [...this.#orchestrators.values()].map((record) => ({ ...record }));
  }

  /**
   * Requests an update. For an orchestrator that has not sent a heartbeat
   * yet, the request applies from its first heartbeat.
   */
  requestUpdate(id: string): void {
    const record = this.get(id);
    if (record === undefined) {
      this.#requestedUpdates.add(id.toLowerCase());
    } else {
      record.pendingUpdate = true;
    }
  }

  /** Clears a requested update; returns false for an unknown id. */
  acknowledge(id: string): boolean {
    const record = this.get(id);
    if (record === undefined) return false;
    record.pendingUpdate = false;
    return true;
  }
}
