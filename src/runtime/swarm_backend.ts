/**
 * Docker Swarm as an execution backend: each run is a `replicated-job`
 * service with one task, created through a swarm manager with dockerode.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { Buffer } from "node:buffer";
import type { DockerEndpoint } from "../config/docker_endpoint.ts";
import type { PullPolicy } from "../config/settings.ts";
import {
  describeEngineFailure,
  dockerodeOptions,
  EngineError,
} from "./docker_backend.ts";
import {
  type ExecutionBackend,
  ImageError,
  type PullProgress,
  type RegistryAuth,
  type RunHandle,
  type RunSpec,
  type RunSummary,
} from "./execution_backend.ts";
import {
  formatImageReference,
  type ImageReference,
} from "./image_reference.ts";
import { apiMessageOf, ignoreNotFound } from "./swarm_api_error.ts";
import { SwarmRun } from "./swarm_run.ts";
import {
  buildServiceSpec,
  type RunSecret,
  SWARM_RUN_LABEL,
  type SwarmResources,
} from "./swarm_service_spec.ts";
import { isFinal, latestTask, type SwarmTask } from "./swarm_task_state.ts";

export type { SwarmResources } from "./swarm_service_spec.ts";

/** Options of {@linkcode SwarmBackend}. */
export interface SwarmBackendOptions {
  /**
   * Placement constraints for every job's task, such as
   * `node.labels.customer==alpha`. @default []
   */
  placement?: string[];
  /** Resource limits for every job's task. @default no limits */
  resources?: SwarmResources;
  /**
   * Seconds a task may wait for a node (states new, pending, allocated)
   * before its run ends with exit code -1 and the scheduler's reason.
   * @default 60
   */
  unschedulableTimeoutSeconds?: number;
  /** Time between two reads of a task's status, in ms. @default 500 */
  pollIntervalMs?: number;
  /**
   * Seconds between SIGTERM and SIGKILL when a node stops a task whose
   * container is not on the manager's engine. @default 10
   */
  stopGraceSeconds?: number;
}

/**
 * A job service found on the swarm. `id` is the service ID and `running`
 * is true until the service's task reaches a final state.
 */
export interface SwarmRunSummary extends RunSummary {
  /** Service name, as given in the run's `RunSpec.name`. */
  name: string;
  /** Creation time as the manager reports it (RFC 3339). */
  createdAt: string | null;
}

/** Credentials and digest that `ensureImage` stored for an image's runs. */
interface ImagePlan {
  auth: RegistryAuth | null;
  /** `name:tag@digest` when the digest was resolved, else null. */
  pinned: string | null;
}

/** Images whose credentials are kept between `ensureImage` and `start`. */
const MAX_IMAGE_PLANS = 256;

/** Runs job containers as services on a Docker Swarm through a manager. */
export class SwarmBackend implements ExecutionBackend {
  readonly #docker: Docker;
  readonly #endpointText: string;
  readonly #endpoint: DockerEndpoint | null;
  readonly #placement: string[];
  readonly #resources: SwarmResources;
  readonly #unschedulableTimeoutSeconds: number;
  readonly #pollIntervalMs: number;
  readonly #stopGraceSeconds: number;
  readonly #images = new Map<string, ImagePlan>();

  /**
   * @param engine a dockerode client, or the address of a manager's engine
   * @throws {RangeError} when a number in `options` is not positive
   * @throws {TypeError} when a placement constraint is empty
   */
  constructor(
    engine: Docker | DockerEndpoint,
    options: SwarmBackendOptions = {},
  ) {
    this.#unschedulableTimeoutSeconds = positive(
      "unschedulableTimeoutSeconds",
      options.unschedulableTimeoutSeconds ?? 60,
    );
    this.#pollIntervalMs = positive(
      "pollIntervalMs",
      options.pollIntervalMs ?? 500,
    );
    this.#stopGraceSeconds = positive(
      "stopGraceSeconds",
      options.stopGraceSeconds ?? 10,
    );
    for (const [name, value] of Object.entries(options.resources ?? {})) {
      if (value !== undefined) positive(`resources.${name}`, value);
    }
    this.#resources = { ...options.resources };
    this.#placement = [...(options.placement ?? [])];
    for (const constraint of this.#placement) {
      if (constraint.trim() === "") {
        throw new TypeError(
          `Invalid placement constraint "${constraint}": expected an ` +
            `expression such as "node.labels.customer==alpha"`,
        );
      }
    }
    if (engine instanceof Docker) {
      this.#docker = engine;
      this.#endpoint = null;
      this.#endpointText = "given to the swarm backend";
    } else {
      this.#docker = new Docker(dockerodeOptions(engine));
      this.#endpoint = engine;
      this.#endpointText = engine.text;
    }
  }

  /** The dockerode client. */
  get client(): Docker {
    return this.#docker;
  }

  /**
   * Checks that the engine responds and is a swarm manager.
   *
   * @throws {EngineError} when the engine does not respond or is no manager
   */
  async describe(): Promise<
    { name: string; version: string; apiVersion: string }
  > {
    let version: Docker.DockerVersion;
    let swarm: { LocalNodeState?: string; ControlAvailable?: boolean };
    try {
      version = await this.#docker.version();
      swarm = (await this.#docker.info() as { Swarm?: typeof swarm })
        .Swarm ?? {};
    } catch (error) {
      const message = this.#endpoint === null
        ? `Docker engine did not answer: ${apiMessageOf(error)}`
        : describeEngineFailure(this.#endpoint, error);
      throw new EngineError(message, { cause: error });
    }
    if (swarm.LocalNodeState !== "active" || swarm.ControlAvailable !== true) {
      const state = swarm.LocalNodeState === "active"
        ? "a worker"
        : `swarm state "${swarm.LocalNodeState ?? "unknown"}"`;
      throw new EngineError(
        `Docker engine ${this.#endpointText} is not a swarm manager ` +
          `(${state}): run docker swarm init or point ` +
          `ContainerSettings:DockerEndpoint at a manager`,
      );
    }
    return {
      name: "Docker Swarm",
      version: version.Version,
      apiVersion: version.ApiVersion,
    };
  }

  /**
   * Prepares an image for a service without pulling it on the manager: the
   * node that runs the task pulls it, with the credentials kept here and
   * sent when the service is created.
   *
   * With `Always`, the manager fetches the current digest from the registry
   * and the service names the image by it, so every node runs that exact
   * image. With `IfNotPresent` and `Never` nothing is checked here.
   *
   * NOTE: `Never` cannot be enforced: a node pulls an image it lacks, and
   * nodes always check an image named by digest.
   *
   * @throws {ImageError} when `Always` and the registry does not return a
   * digest
   */
  async ensureImage(
    image: ImageReference,
    options: {
      policy: PullPolicy;
      auth: RegistryAuth | null;
      onProgress?: PullProgress;
    },
  ): Promise<void> {
    const reference = formatImageReference(image);
    let pinned: string | null = null;
    if (options.policy === "Always" && image.digest === null) {
      const digest = await this.#resolveDigest(reference, options.auth);
      pinned = `${reference}@${digest}`;
      options.onProgress?.(`Resolved ${reference} to ${digest}`);
    }
    this.#images.delete(reference);
    this.#images.set(reference, { auth: options.auth, pinned });
    if (this.#images.size > MAX_IMAGE_PLANS) {
      const oldest = this.#images.keys().next().value;
      if (oldest !== undefined) this.#images.delete(oldest);
    }
  }

  async #resolveDigest(
    reference: string,
    auth: RegistryAuth | null,
  ): Promise<string> {
    let detail: string;
    let cause: unknown;
    try {
      const answer = await this.#docker.getImage(reference).distribution(
        auth === null ? {} : { authconfig: auth },
      ) as { Descriptor?: { digest?: string } };
      const digest = answer.Descriptor?.digest;
      if (digest !== undefined && digest !== "") return digest;
      detail = "the registry returned no digest";
    } catch (error) {
      detail = apiMessageOf(error);
      cause = error;
    }
    return Promise.reject(
      new ImageError(
        `Resolving image ${reference} on its registry failed: ${detail}`,
        {
          authenticationFailed:
            /unauthorized|authentication required|no basic auth|denied/i
              .test(detail),
          cause,
        },
      ),
    );
  }

  /**
   * Creates the run's secrets and its service. The manager does not resolve
   * the image's digest here: engines do that only for clients older than API
   * 1.30, and dockerode calls the API without a version prefix, which the
   * engine reads as its current version. So an image that exists only on the
   * nodes, without a registry, works.
   *
   * @throws {EngineError} when a certificate cannot be read or the engine
   * rejects the secret or the service
   */
  async start(spec: RunSpec): Promise<RunHandle> {
    const secrets = await this.#createSecrets(spec);
    const plan = this.#images.get(spec.image);
    const serviceSpec = buildServiceSpec(
      { ...spec, image: plan?.pinned ?? spec.image },
      {
        secrets,
        placement: this.#placement,
        resources: this.#resources,
        stopGraceSeconds: this.#stopGraceSeconds,
      },
    );
    let service: Docker.Service;
    try {
      // The two-argument form, because dockerode sends the whole first
      // argument as X-Registry-Auth when it is given alone.
      service = await this.#docker.createService(
        plan?.auth ?? {},
        serviceSpec,
      );
    } catch (error) {
      await this.#removeSecrets(secrets);
      throw new EngineError(
        `Creating service ${spec.name} for image ${spec.image} failed: ` +
          apiMessageOf(error),
        { cause: error },
      );
    }
    return this.#runOf(service.id, spec.name);
  }

  async #createSecrets(spec: RunSpec): Promise<RunSecret[]> {
    const secrets: RunSecret[] = [];
    try {
      for (const [index, mount] of (spec.readOnlyMounts ?? []).entries()) {
        secrets.push(await this.#createSecret(spec, mount, index));
      }
    } catch (error) {
      await this.#removeSecrets(secrets);
      throw error;
    }
    return secrets;
  }

  async #createSecret(
    spec: RunSpec,
    mount: { hostPath: string; containerPath: string },
    index: number,
  ): Promise<RunSecret> {
    let data: Uint8Array;
    try {
      data = await Deno.readFile(mount.hostPath);
    } catch (error) {
      throw new EngineError(
        `Reading ${mount.hostPath} for the secret at ` +
          `${mount.containerPath} failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const name = `${spec.name}-file-${index}`;
    try {
      const created = await this.#docker.createSecret({
        Name: name,
        Labels: { ...spec.labels, [SWARM_RUN_LABEL]: spec.name },
        Data: Buffer.from(data).toString("base64"),
      }) as { id?: string; ID?: string };
      const id = created.id ?? created.ID ?? "";
      return { id, name, containerPath: mount.containerPath };
    } catch (error) {
      throw new EngineError(
        `Creating secret ${name} for ${mount.containerPath} failed: ` +
          apiMessageOf(error),
        { cause: error },
      );
    }
  }

  async #removeSecrets(secrets: RunSecret[]): Promise<void> {
    for (const secret of secrets) {
      try {
        await ignoreNotFound(() => this.#docker.getSecret(secret.id).remove());
      } catch {
        // The secret keeps its run label, so removing the run finds it.
      }
    }
  }

  /** Lists the job services whose labels contain every pair of `labels`. */
  async listRuns(labels: Record<string, string>): Promise<SwarmRunSummary[]> {
    const summaries: SwarmRunSummary[] = [];
    try {
      const services = await this.#docker.listServices({
        filters: {
          label: Object.entries(labels).map(([key, value]) =>
            `${key}=${value}`
          ),
        },
      });
      for (const service of services) {
        const tasks = await this.#docker.listTasks({
          filters: { service: [service.ID] },
        }) as SwarmTask[];
        const task = latestTask(tasks);
        summaries.push({
          id: service.ID,
          name: service.Spec?.Name ?? "",
          labels: service.Spec?.Labels ?? {},
          running: task === null || !isFinal(task),
          createdAt: service.CreatedAt ?? null,
        });
      }
    } catch (error) {
      throw new EngineError(
        `Listing job services failed: ${apiMessageOf(error)}`,
        { cause: error },
      );
    }
    return summaries;
  }

  /** Returns a handle for a service that already exists. */
  attach(serviceId: string): RunHandle {
    return this.#runOf(serviceId);
  }

  #runOf(serviceId: string, name?: string): SwarmRun {
    return new SwarmRun(this.#docker, serviceId, {
      name,
      pollIntervalMs: this.#pollIntervalMs,
      unschedulableTimeoutSeconds: this.#unschedulableTimeoutSeconds,
    });
  }
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Invalid swarm backend option ${name} "${value}": expected a ` +
        `positive number`,
    );
  }
  return value;
}
