/**
 * Fault rules for the reference API: which requests fail, how, and for how
 * long. The responses themselves are built in `fault_responses.ts`.
 *
 * @module
 */

/** The ways a request can fail. */
export const FAULT_KINDS = [
  "status",
  "drop",
  "delay",
  "garbage",
  "html",
  "hang",
  "redirect",
  "huge",
] as const;

/**
 * Kind of failure of a faulted request:
 * - `status`: an error status (`status`, default 500) with a problem body
 * - `drop`: the connection is reset before the body ends
 * - `delay`: the request waits `delayMs`, then runs normally
 * - `garbage`: 200 with a body that is not valid JSON
 * - `html`: 502 with an HTML error page, as a reverse proxy sends
 * - `hang`: no response until the server closes
 * - `redirect`: 302 to another path on the same server
 * - `huge`: 200 with `bytes` of something that is not a job list
 */
export type FaultKind = typeof FAULT_KINDS[number];

/** A rule that makes matching requests fail. */
export interface FaultRule {
  /** HTTP method, case-insensitive; any method when omitted. */
  method?: string;
  /**
   * Request path, case-insensitive, without the query. A plain path matches
   * itself and everything below it (`/api/jobs` matches
   * `/api/jobs/pending`). A path with `*` or `:name` is a `URLPattern`
   * pathname (`/api/jobs/:id/status`). Any path when omitted.
   */
  path?: string;
  kind: FaultKind;
  /**
   * Status of `status` (default 500), of `redirect` (default 302) and the
   * status line sent before a `drop` resets the connection (default 502).
   */
  status?: number;
  /** Wait of `delay`, in milliseconds (default 1000). */
  delayMs?: number;
  /** Number of matching requests to fail; unlimited when omitted. */
  count?: number;
  /** Time window from now in milliseconds; unlimited when omitted. */
  forMs?: number;
  /** Body size of `huge`, in bytes (default 50 MiB). */
  bytes?: number;
  /** Target of `redirect` (default: the login page with a return URL). */
  location?: string;
}

/** A rule that is in force, with what is left of it. */
export interface ActiveFault {
  id: string;
  rule: FaultRule;
  /** Requests still to fail, or null when unlimited. */
  remaining: number | null;
  /** End of the window in milliseconds since the epoch, or null. */
  until: number | null;
  /** Requests failed so far. */
  applied: number;
}

interface CompiledFault extends ActiveFault {
  method: string | null;
  matchPath: (path: string) => boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkNumber(
  rule: Record<string, unknown>,
  name: string,
  options: { min: number; max?: number; integer?: boolean },
): void {
  const value = rule[name];
  if (value === undefined) return;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (
    typeof value !== "number" || !Number.isFinite(value) ||
    value < options.min || value > max ||
    (options.integer === true && !Number.isInteger(value))
  ) {
    const kind = options.integer === true ? "an integer" : "a number";
    throw new RangeError(
      `Fault rule ${name} "${String(value)}" is invalid; expected ${kind} ` +
        `from ${options.min}${options.max === undefined ? "" : ` to ${max}`}`,
    );
  }
}

function checkString(rule: Record<string, unknown>, name: string): void {
  const value = rule[name];
  if (value !== undefined && typeof value !== "string") {
    throw new TypeError(
      `Fault rule ${name} "${String(value)}" is invalid; expected a string`,
    );
  }
}

/**
 * Validates a fault rule from JSON or code and returns a copy.
 *
 * @throws {TypeError} when the rule is not an object, the kind is unknown or
 *   a property has the wrong type
 * @throws {RangeError} when a number is out of range
 */
export function validateFaultRule(value: unknown): FaultRule {
  if (!isRecord(value)) {
    throw new TypeError(
      `Fault rule "${JSON.stringify(value)}" is not an object; send ` +
        `{"kind": "status", "path": "/api/logs", ...}`,
    );
  }
  const kind = value.kind;
  if (!FAULT_KINDS.includes(kind as FaultKind)) {
    throw new TypeError(
      `Fault kind "${String(kind)}" is unknown; expected one of ` +
        FAULT_KINDS.join(", "),
    );
  }

  checkString(value, "method");
  checkString(value, "path");
  checkString(value, "location");
  checkNumber(value, "status", { min: 100, max: 599, integer: true });
  checkNumber(value, "delayMs", { min: 0 });
  checkNumber(value, "count", { min: 1, integer: true });
  checkNumber(value, "forMs", { min: 0 });
  checkNumber(value, "bytes", { min: 0, integer: true });

  const rule: FaultRule = { kind: kind as FaultKind };
  for (
    const name of [
      "method",
      "path",
      "status",
      "delayMs",
      "count",
      "forMs",
      "bytes",
      "location",
    ] as const
  ) {
    if (value[name] !== undefined) {
      (rule as unknown as Record<string, unknown>)[name] = value[name];
    }
  }
  return rule;
}

function compilePath(path: string | undefined): (path: string) => boolean {
  if (path === undefined || path === "" || path === "/") return () => true;
  if (path.includes("*") || path.includes(":")) {
    const pattern = new URLPattern({ pathname: path }, { ignoreCase: true });
    return (requestPath) => pattern.test({ pathname: requestPath });
  }
  const prefix = path.toLowerCase().replace(/\/+$/, "");
  return (requestPath) => {
    const lower = requestPath.toLowerCase();
    return lower === prefix || lower.startsWith(prefix + "/");
  };
}

/** The rules in force, checked in the order they were added. */
export class FaultInjector {
  #faults: CompiledFault[] = [];
  #now: () => number;
  #nextId = 1;
  #applied = 0;

  /**
   * @param options.now clock in milliseconds since the epoch, for `forMs`
   *   windows (default `Date.now`)
   */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** Number of requests failed since the server started. */
  get appliedCount(): number {
    return this.#applied;
  }

  /**
   * Adds a rule and returns its id.
   *
   * @throws {TypeError | RangeError} when the rule is invalid, see
   *   {@linkcode validateFaultRule}
   */
  add(rule: FaultRule): string {
    const valid = validateFaultRule(rule);
    const id = String(this.#nextId++);
    this.#faults.push({
      id,
      rule: valid,
      remaining: valid.count ?? null,
      until: valid.forMs === undefined ? null : this.#now() + valid.forMs,
      applied: 0,
      method: valid.method?.toUpperCase() ?? null,
      matchPath: compilePath(valid.path),
    });
    return id;
  }

  /** Removes one rule; returns false when there was none with that id. */
  remove(id: string): boolean {
    const index = this.#faults.findIndex((fault) => fault.id === id);
    if (index === -1) return false;
    this.#faults.splice(index, 1);
    return true;
  }

  /** Removes every rule. */
  clear(): void {
    this.#faults = [];
  }

  /** Returns copies of the rules still in force. */
  list(): ActiveFault[] {
    this.#dropExpired(this.#now());
    return this.#faults.map((fault) => ({
      id: fault.id,
      rule: { ...fault.rule },
      remaining: fault.remaining,
      until: fault.until,
      applied: fault.applied,
    }));
  }

  /**
   * Finds the first rule in force for a request and counts one use of it.
   * A rule whose count is used up or whose window has passed is removed.
   */
  take(method: string, path: string): FaultRule | undefined {
    if (this.#faults.length === 0) return undefined;
    this.#dropExpired(this.#now());
    for (let i = 0; i < this.#faults.length; i++) {
      const fault = this.#faults[i];
      if (fault.method !== null && fault.method !== method) continue;
      if (!fault.matchPath(path)) continue;
      fault.applied++;
      this.#applied++;
      if (fault.remaining !== null && --fault.remaining === 0) {
        this.#faults.splice(i, 1);
      }
      return fault.rule;
    }
    return undefined;
  }

  #dropExpired(now: number): void {
    this.#faults = this.#faults.filter((fault) =>
      fault.until === null || now < fault.until
    );
  }
}
