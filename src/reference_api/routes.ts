/**
 * The reference API's routing table: which endpoint a method and path
 * reach in each server generation.
 *
 * @module
 */

/** Endpoints, named for request counters. */
export const ENDPOINTS = [
  "pendingJobs",
  "getJob",
  "patchStatus",
  "postLog",
  "login",
  "heartbeat",
  "updateStatus",
  "updateAck",
  "requestUpdate",
  "certificate",
  "refreshCredentials",
  "listJobs",
  "createJob",
  "deleteJob",
  "listLogs",
  "loginPage",
  "faultAdmin",
  "methodNotAllowed",
  "notFound",
] as const;

/** An endpoint name. */
export type Endpoint = typeof ENDPOINTS[number];

/** Requests received per endpoint, faulted and rejected ones included. */
export type RequestCounters = Record<Endpoint, number>;

/** Returns counters that are all zero. */
export function createRequestCounters(): RequestCounters {
  const counters = {} as RequestCounters;
  for (const endpoint of ENDPOINTS) counters[endpoint] = 0;
  return counters;
}

/** A resolved request. */
export interface Route {
  endpoint: Endpoint;
  /** The job, orchestrator or customer named in the path, decoded. */
  parameter: string | null;
  /** True for endpoints that need a bearer token in the second generation. */
  needsToken: boolean;
}

interface RouteEntry {
  endpoint: Endpoint;
  method: string;
  secondGenerationOnly: boolean;
  /** False for the endpoints that are not part of the IAM API contract. */
  contract: boolean;
}

function entry(
  endpoint: Endpoint,
  method: string,
  options: { secondGenerationOnly?: boolean; contract?: boolean } = {},
): RouteEntry {
  return {
    endpoint,
    method,
    secondGenerationOnly: options.secondGenerationOnly ?? false,
    contract: options.contract ?? true,
  };
}

const GEN2 = { secondGenerationOnly: true };
const EXTRA = { contract: false };
const EXTRA_GEN2 = { secondGenerationOnly: true, contract: false };

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const FAULT_ADMIN = [
  entry("faultAdmin", "GET", EXTRA),
  entry("faultAdmin", "POST", EXTRA),
  entry("faultAdmin", "DELETE", EXTRA),
];
const LOGIN_PAGE = [entry("loginPage", "GET", EXTRA)];
const JOBS = [
  entry("listJobs", "GET", EXTRA),
  entry("createJob", "POST", EXTRA),
];
const PENDING_JOBS = [entry("pendingJobs", "GET")];
const JOB = [entry("getJob", "GET"), entry("deleteJob", "DELETE", EXTRA)];
const JOB_STATUS = [entry("patchStatus", "PATCH")];
const REFRESH_CREDENTIALS = [entry("refreshCredentials", "POST", GEN2)];
const LOGS = [entry("postLog", "POST"), entry("listLogs", "GET", EXTRA)];
const LOGIN = [entry("login", "POST", GEN2)];
const HEARTBEAT = [entry("heartbeat", "POST", GEN2)];
const UPDATE_STATUS = [entry("updateStatus", "GET", GEN2)];
const UPDATE_ACK = [entry("updateAck", "POST", GEN2)];
const REQUEST_UPDATE = [entry("requestUpdate", "POST", EXTRA_GEN2)];
const CERTIFICATE = [entry("certificate", "GET", GEN2)];
const NONE: RouteEntry[] = [];

/** Finds the route table entries for a path (segments in lower case). */
function lookup(segments: string[]): RouteEntry[] {
  const [first, second, third, fourth] = segments;
  const length = segments.length;
  if (first === "_faults") return length === 1 ? FAULT_ADMIN : NONE;
  if (first === "account") {
    return length === 2 && second === "login" ? LOGIN_PAGE : NONE;
  }
  if (first !== "api") return NONE;
  switch (second) {
    case "jobs":
      if (length === 2) return JOBS;
      if (length === 3) return third === "pending" ? PENDING_JOBS : JOB;
      if (length === 4 && fourth === "status") return JOB_STATUS;
      if (length === 4 && fourth === "refresh-credentials") {
        return REFRESH_CREDENTIALS;
      }
      return NONE;
    case "logs":
      return length === 2 ? LOGS : NONE;
    case "auth":
      return length === 3 && third === "login" ? LOGIN : NONE;
    case "orchestrators":
      if (length === 3 && third === "heartbeat") return HEARTBEAT;
      if (length !== 4) return NONE;
      if (fourth === "update-status") return UPDATE_STATUS;
      if (fourth === "update-ack") return UPDATE_ACK;
      if (fourth === "request-update") return REQUEST_UPDATE;
      return NONE;
    case "certificates":
      return length === 3 ? CERTIFICATE : NONE;
    default:
      return NONE;
  }
}

/**
 * Resolves a request. Second-generation endpoints do not exist in the first
 * generation, which returns 404 for them like the old server. A known path
 * with another method resolves to `methodNotAllowed`.
 */
export function resolveRoute(
  method: string,
  path: string,
  generation: 1 | 2,
): Route {
  const original = path.split("/").filter((segment) => segment !== "");
  const segments = original.map((segment) => segment.toLowerCase());
  const entries = lookup(segments);
  let exists = false;
  let match: RouteEntry | undefined;
  for (const candidate of entries) {
    if (generation === 1 && candidate.secondGenerationOnly) continue;
    exists = true;
    if (candidate.method === method) match = candidate;
  }
  if (!exists) {
    return { endpoint: "notFound", parameter: null, needsToken: false };
  }
  if (match === undefined) {
    return { endpoint: "methodNotAllowed", parameter: null, needsToken: false };
  }
  // The parameter is always the third segment: /api/<area>/<parameter>/...
  const parameter = original.length >= 3 ? decode(original[2]) : null;
  return {
    endpoint: match.endpoint,
    parameter,
    needsToken: generation === 2 && match.contract &&
      match.endpoint !== "login",
  };
}
