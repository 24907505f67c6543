/**
 * An in-memory implementation of the IAM API for tests, demos and
 * benchmarks, serving either server generation on loopback.
 *
 * @example
 * ```ts
 * const api = await startReferenceApi({ jobs: [{ name: "report" }] });
 * const response = await fetch(`${api.url}/api/jobs/pending`);
 * await response.json();
 * await api.close();
 * ```
 *
 * @module
 */
import { getLogger, type Logger } from "@logtape/logtape";
import type { ReferenceApiEvent } from "./events.ts";
import { ConnectionDropped, OpenRequests } from "./fault_responses.ts";
import { FaultInjector } from "./faults.ts";
import {
  copyJob,
  type JobInput,
  jobKey,
  type JobRecord,
  JobStore,
  type RegistryCredentials,
} from "./job_store.ts";
import { type LogRecord, type LogStats, LogStore } from "./log_store.ts";
import {
  type OrchestratorRecord,
  OrchestratorRegistry,
} from "./orchestrator_registry.ts";
import { handleRequest } from "./request_handler.ts";
import { createRequestCounters, type RequestCounters } from "./routes.ts";
import type {
  CertificateRecord,
  CredentialSource,
  ServerContext,
} from "./server_context.ts";
import { TokenStore, type UserAccount } from "./token_store.ts";

export type { ReferenceApiEvent } from "./events.ts";
export type { FaultKind, FaultRule } from "./faults.ts";
export type { JobInput, JobRecord, RegistryCredentials } from "./job_store.ts";
export type { LogRecord, LogStats } from "./log_store.ts";
export type { OrchestratorRecord } from "./orchestrator_registry.ts";
export type { RequestCounters } from "./routes.ts";
export type { CertificateRecord, CredentialSource } from "./server_context.ts";
export type { UserAccount } from "./token_store.ts";

/** Options of {@linkcode startReferenceApi}. */
export interface ReferenceApiOptions {
  /** Address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Port to listen on; 0 picks a free one. @default {0} */
  port?: number;
  /** Jobs to start with; missing properties get defaults. @default {[]} */
  jobs?: readonly JobInput[];
  /** Server generation to imitate. @default {1} */
  generation?: 1 | 2;
  /** Accounts that may log in (second generation). @default {[]} */
  users?: readonly UserAccount[];
  /** Lifetime of issued tokens, in seconds. @default {3600} */
  tokenLifetimeSeconds?: number;
  /** Client certificates by customer name (second generation). */
  certificates?: Readonly<Record<string, CertificateRecord>>;
  /**
   * Source of the credentials that `refresh-credentials` writes, for jobs
   * without credentials set by `setRegistryCredentials`. @default a random
   * password with the job's server and user name
   */
  registryCredentials?: CredentialSource;
  /** Called for each status change, log entry, heartbeat, login etc. */
  onEvent?: (event: ReferenceApiEvent) => void;
  /**
   * Store each log entry. When false only counts and sizes are kept, for
   * benchmarks. @default {true}
   */
  keepLogEntries?: boolean;
  /**
   * Logger for starts, stops, faults and server errors.
   * @default getLogger(["iam-orchestrator", "reference-api"])
   */
  logger?: Logger;
  /**
   * Clock in milliseconds since the epoch, for stamps, token expiry and
   * fault windows. @default {Date.now}
   */
  now?: () => number;
}

/** A running reference API. */
export interface ReferenceApi {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Server generation being imitated. */
  readonly generation: 1 | 2;
  /** Requests received per endpoint, faulted and rejected ones included. */
  readonly requests: Readonly<RequestCounters>;
  /** Fault rules applied to the next matching requests. */
  readonly faults: FaultInjector;
  /**
   * Creates a job with defaults for missing properties.
   * @throws {TypeError} when the id is not a GUID
   * @throws {RangeError} when the id exists
   */
  addJob(input?: JobInput): JobRecord;
  /** Returns a copy of a job, or undefined when there is none. */
  getJob(id: string): JobRecord | undefined;
  /** Returns copies of every job in creation order. */
  listJobs(): JobRecord[];
  /**
   * Changes a job as given, e.g. pauses it or sets it back to `Pending`.
   * @throws {RangeError} when the job does not exist
   */
  setJob(id: string, patch: JobInput): JobRecord;
  /** Deletes a job; returns false when there was none. */
  deleteJob(id: string): boolean;
  /** Returns a job's log entries in arrival order. */
  logs(jobId: string): LogRecord[];
  /** Returns a job's log count and bytes, or the totals without an id. */
  logStats(jobId?: string): LogStats;
  /** Returns the orchestrator that sent heartbeats with this id. */
  getOrchestrator(id: string): OrchestratorRecord | undefined;
  /** Requests an update, also before the orchestrator's first heartbeat. */
  requestUpdate(orchestratorId: string): void;
  /** Sets the credentials that the next refresh writes into a job. */
  setRegistryCredentials(jobId: string, credentials: RegistryCredentials): void;
  /** Adds or replaces a customer's certificate. */
  setCertificate(customer: string, certificate: CertificateRecord): void;
  /** Adds or replaces an account. */
  setUser(user: UserAccount): void;
  /** Invalidates every issued token, so that clients must log in again. */
  revokeTokens(): void;
  /**
   * Ends held requests (hanging, delayed, streaming), stops listening and
   * waits until the port is released. Calling it again does nothing.
   */
  close(): Promise<void>;
}

function resolvePort(port: number | undefined): number {
  const value = port ?? 0;
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RangeError(
      `Port "${value}" is invalid; pass an integer from 0 to 65535 ` +
        `(0 picks a free port)`,
    );
  }
  return value;
}

function formatUrl(hostname: string, port: number): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}

/**
 * Starts a reference API on loopback.
 *
 * @throws {RangeError} for an invalid port, generation or token lifetime
 * @throws {TypeError | RangeError} for a seed job with an invalid or
 *   repeated id
 */
export async function startReferenceApi(
  options: ReferenceApiOptions = {},
): Promise<ReferenceApi> {
  const generation = options.generation ?? 1;
  if (generation !== 1 && generation !== 2) {
    throw new RangeError(
      `Generation "${generation}" is invalid; pass 1 or 2`,
    );
  }
  const port = resolvePort(options.port);
  const hostname = options.hostname ?? "127.0.0.1";
  const now = options.now ?? Date.now;
  const logger = options.logger ??
    getLogger(["iam-orchestrator", "reference-api"]);
  const onEvent = options.onEvent ?? null;

  const context: ServerContext = {
    generation,
    now,
    jobs: new JobStore(),
    logs: new LogStore({ keepEntries: options.keepLogEntries ?? true }),
    tokens: new TokenStore({
      users: options.users,
      lifetimeSeconds: options.tokenLifetimeSeconds,
    }),
    orchestrators: new OrchestratorRegistry(),
    certificates: new Map(),
    credentials: new Map(),
    credentialSource: options.registryCredentials ?? null,
    faults: new FaultInjector({ now }),
    open: new OpenRequests(),
    counters: createRequestCounters(),
    emit: onEvent,
    logger,
  };
  for (const job of options.jobs ?? []) context.jobs.add(job, now());
  for (
    const [customer, certificate] of Object.entries(options.certificates ?? {})
  ) {
    context.certificates.set(customer.toLowerCase(), {
      ...certificate,
      customerName: customer,
    });
  }

  const listening = Promise.withResolvers<void>();
  const server = Deno.serve({
    hostname,
    port,
    onListen: () => listening.resolve(),
    onError: (error) => {
      // A dropped response fails on purpose; anything else is a bug.
      if (!(error instanceof ConnectionDropped)) {
        logger.error("Reference API request failed: {error}", { error });
      }
      return new Response(null, { status: 500 });
    },
  }, (request) => handleRequest(context, request));
  await listening.promise;

  const url = formatUrl(hostname, server.addr.port);
  logger.info("Reference API (generation {generation}) listening on {url}", {
    generation,
    url,
  });

  let closing: Promise<void> | null = null;
  const requireJob = (id: string): JobRecord => {
    const job = context.jobs.get(id);
    if (job === undefined) {
      throw new RangeError(
        `Job "${id}" does not exist; create it with addJob first`,
      );
    }
    return job;
  };

  return {
    url,
    generation,
    requests: context.counters,
    faults: context.faults,
    addJob(input = {}) {
      const job = context.jobs.add(input, now());
      onEvent?.({
        type: "jobCreated",
        jobId: job.id,
        name: job.name,
        origin: "test",
      });
      return copyJob(job);
    },
    getJob(id) {
      const job = context.jobs.get(id);
      return job === undefined ? undefined : copyJob(job);
    },
    listJobs() {
      return [...context.jobs.all()].map(copyJob);
    },
    setJob(id, patch) {
      const from = requireJob(id).status;
      const job = context.jobs.patch(id, patch);
      onEvent?.({ type: "jobUpdated", jobId: job.id });
      if (job.status !== from) {
        onEvent?.({
          type: "statusChanged",
          jobId: job.id,
          from,
          to: job.status,
          origin: "test",
        });
      }
      return copyJob(job);
    },
    deleteJob(id) {
      const deleted = context.jobs.delete(id);
      if (deleted) onEvent?.({ type: "jobDeleted", jobId: id, origin: "test" });
      return deleted;
    },
    logs(jobId) {
      return context.logs.entries(jobId);
    },
    logStats(jobId) {
      return context.logs.stats(jobId);
    },
    getOrchestrator(id) {
      const record = context.orchestrators.get(id);
      return record === undefined ? undefined : { ...record };
    },
    requestUpdate(orchestratorId) {
      context.orchestrators.requestUpdate(orchestratorId);
      onEvent?.({ type: "updateRequested", orchestratorId });
    },
    setRegistryCredentials(jobId, credentials) {
      context.credentials.set(jobKey(jobId), { ...credentials });
    },
    setCertificate(customer, certificate) {
      context.certificates.set(customer.toLowerCase(), {
        ...certificate,
        customerName: customer,
      });
    },
    setUser(user) {
      context.tokens.setUser(user);
    },
    revokeTokens() {
      context.tokens.revokeAll();
    },
    close() {
      closing ??= (async () => {
        context.open.releaseAll();
        await server.shutdown();
        logger.info("Reference API on {url} stopped", { url });
      })();
      return closing;
    },
  };
}
