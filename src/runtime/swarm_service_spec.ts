/**
 * The Docker Swarm service that runs one job: a `replicated-job` service
 * with one task that is never restarted.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import type { RunSpec } from "./execution_backend.ts";

/** Resource limits applied to every job's task. */
export interface SwarmResources {
  /** Memory limit in bytes. */
  memoryBytes?: number;
  /** CPU limit in units of 10^-9 CPUs (1e9 is one CPU). */
  nanoCpus?: number;
  /** Maximum number of processes in the container (API 1.41 and later). */
  pidsLimit?: number;
}

/** Label on a run's secrets: the name of the service they belong to. */
export const SWARM_RUN_LABEL = "io.iam-orchestrator.swarm-service";

/** A secret created for a run, mounted read-only in its container. */
export interface RunSecret {
  id: string;
  name: string;
  /** Path of the file in the container. */
  containerPath: string;
}

/** Options for {@linkcode buildServiceSpec}. */
export interface ServiceSpecOptions {
  /** Secrets to mount, created beforehand. @default [] */
  secrets?: RunSecret[];
  /** Placement constraints such as `node.labels.customer==alpha`. @default [] */
  placement?: string[];
  /** Resource limits. @default no limits */
  resources?: SwarmResources;
  /**
   * Seconds the node waits after SIGTERM before SIGKILL when the service is
   * removed. @default 10, the engine's own default
   */
  stopGraceSeconds?: number;
}

const NANOSECONDS_PER_SECOND = 1_000_000_000;

/** A service definition whose tasks run a container. */
export type JobServiceSpec = Docker.ServiceSpec & {
  TaskTemplate: Docker.ContainerTaskSpec;
};

/** Builds the service definition for a run. */
export function buildServiceSpec(
  spec: RunSpec,
  options: ServiceSpecOptions = {},
): JobServiceSpec {
  const secrets = options.secrets ?? [];
  const placement = options.placement ?? [];
  const limits = limitsOf(options.resources ?? {});
  return {
    Name: spec.name,
    Labels: spec.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Env: spec.env,
        Labels: spec.labels,
        TTY: false,
        StopGracePeriod: (options.stopGraceSeconds ?? 10) *
          NANOSECONDS_PER_SECOND,
        Secrets: secrets.length === 0 ? undefined : secrets.map((secret) => ({
          SecretID: secret.id,
          SecretName: secret.name,
          // Mode 0400: readable by root only, the owner inside the container.
          File: {
            Name: secret.containerPath,
            UID: "0",
            GID: "0",
            Mode: 0o400,
          },
        })),
      },
      // A failed job is reported, never retried by the swarm.
      RestartPolicy: { Condition: "none", MaxAttempts: 0 },
      Placement: placement.length === 0
        ? undefined
        : { Constraints: placement },
      Resources: limits === null ? undefined : { Limits: limits },
    },
    Mode: { ReplicatedJob: { MaxConcurrent: 1, TotalCompletions: 1 } },
  };
}

function limitsOf(resources: SwarmResources): Docker.ResourceLimits | null {
  const limits: Docker.ResourceLimits = {};
  if (resources.memoryBytes !== undefined) {
    limits.MemoryBytes = resources.memoryBytes;
  }
  if (resources.nanoCpus !== undefined) limits.NanoCPUs = resources.nanoCpus;
  if (resources.pidsLimit !== undefined) limits.Pids = resources.pidsLimit;
  return Object.keys(limits).length === 0 ? null : limits;
}
