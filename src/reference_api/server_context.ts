/**
 * The state that the reference API's request handlers share.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { ReferenceApiEvent } from "./events.ts";
import type { FaultInjector } from "./faults.ts";
import type { OpenRequests } from "./fault_responses.ts";
import type { JobRecord, JobStore, RegistryCredentials } from "./job_store.ts";
import type { LogStore } from "./log_store.ts";
import type { OrchestratorRegistry } from "./orchestrator_registry.ts";
import type { RequestCounters } from "./routes.ts";
import type { TokenStore } from "./token_store.ts";

/** A customer's client certificate, as `GET /api/certificates/{customer}`. */
export interface CertificateRecord {
  /** PFX file, base64. */
  certificateData: string;
  password: string;
  thumbprint: string;
  /** ISO 8601 time. */
  expiresAt: string;
}

/** Returns the registry credentials that a refresh writes into a job. */
export type CredentialSource = (job: JobRecord) => RegistryCredentials;

/** The shared state of one reference API server. */
export interface ServerContext {
  generation: 1 | 2;
  /** Clock in milliseconds since the epoch. */
  now: () => number;
  jobs: JobStore;
  logs: LogStore;
  tokens: TokenStore;
  orchestrators: OrchestratorRegistry;
  /** Certificates by customer name in lower case. */
  certificates: Map<string, CertificateRecord & { customerName: string }>;
  /** Credentials set for single jobs, by job key. */
  credentials: Map<string, RegistryCredentials>;
  credentialSource: CredentialSource | null;
  faults: FaultInjector;
  open: OpenRequests;
  counters: RequestCounters;
  /** Event callback, or null so that handlers skip building events. */
  emit: ((event: ReferenceApiEvent) => void) | null;
  logger: Logger;
}
