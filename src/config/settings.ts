/**
 * The daemon's resolved configuration: every field set, every value checked.
 * Built once by `loadSettings`; the rest of the daemon reads only this.
 *
 * @module
 */
import type { ApiCredentialSettings } from "../iam_api/api_auth.ts";
import type { ContainerHardening } from "../runtime/container_hardening.ts";
import type { DockerEndpoint } from "./docker_endpoint.ts";
import type {
  BACKENDS,
  LOG_FORMATS,
  LOG_LEVELS,
  OVERLAP_POLICIES,
  PullPolicy,
  SCHEDULE_MODES,
  SHUTDOWN_MODES,
} from "./settings_schema.ts";

export type { PullPolicy };

/** Resolved configuration; see the README's table for each key. */
export interface Settings {
  api: {
    /** Base URL without a trailing slash. */
    baseUrl: string;
    pollingIntervalSeconds: number;
    requestTimeoutSeconds: number;
    /** Token or login; every field empty when unset. */
    auth: ApiCredentialSettings;
    /** PEM file of extra CA certificates for an HTTPS API, or empty. */
    caCertFile: string;
  };
  container: {
    defaultTimeoutSeconds: number;
    dockerEndpoint: DockerEndpoint;
    maxConcurrentJobs: number;
    pullPolicy: PullPolicy;
    /** Seconds between SIGTERM and SIGKILL when a container is stopped. */
    stopGraceSeconds: number;
    backend: typeof BACKENDS[number];
    /** Swarm placement constraints, such as `node.labels.customer==alpha`. */
    placement: string[];
    hardening: ContainerHardening;
  };
  certificate: {
    /** `Auto`: fetch when the server has the endpoint. */
    enabled: "Auto" | "true" | "false";
    warnDays: number;
  };
  customer: {
    /** One customer, or null for all customers. */
    customerName: string | null;
  };
  orchestrator: {
    stateDirectory: string;
    /** A fixed id, or null to use the one kept in the state directory. */
    orchestratorId: string | null;
    shutdownGraceSeconds: number;
    onShutdown: typeof SHUTDOWN_MODES[number];
    /** Port of the status server, or null when it is off. */
    statusPort: number | null;
    statusHost: string;
  };
  schedule: {
    mode: typeof SCHEDULE_MODES[number];
    timeZone: string;
    overlapPolicy: typeof OVERLAP_POLICIES[number];
    catchUpWindowSeconds: number;
  };
  log: {
    maxLineBytes: number;
    maxEntryBytes: number;
    flushIntervalMs: number;
    maxJobLogBytes: number;
    /** Patterns added to the built-in list of secret-looking names. */
    secretParameterPatterns: string[];
    echoContainerOutput: boolean;
  };
  logging: {
    level: typeof LOG_LEVELS[number];
    format: typeof LOG_FORMATS[number];
  };
}
