/**
 * The local Docker engine as an execution backend, through dockerode.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import type { DockerEndpoint } from "../config/docker_endpoint.ts";
import type { PullPolicy } from "../config/settings.ts";
import {
  type ExecutionBackend,
  type ExitResult,
  ImageError,
  type PullProgress,
  type RegistryAuth,
  type RunHandle,
  type RunSpec,
  type RunSummary,
} from "./execution_backend.ts";
import {
  type ContainerHardening,
  DEFAULT_CONTAINER_HARDENING,
  hardeningContainerOptions,
} from "./container_hardening.ts";
import {
  encodeFrame,
  FrameReader,
  LogPosition,
  splitTimestamp,
} from "./docker_log_frames.ts";
import {
  formatImageReference,
  type ImageReference,
} from "./image_reference.ts";

/** The engine could not be reached or refused a call. */
export class EngineError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "EngineError";
  }
}

interface DockerApiError {
  statusCode?: number;
  message?: string;
  json?: { message?: string };
}

function statusOf(error: unknown): number | undefined {
  return (error as DockerApiError | null)?.statusCode;
}

function messageOf(error: unknown): string {
  const api = error as DockerApiError | null;
  return api?.json?.message ?? api?.message ?? String(error);
}

function readTlsFile(directory: string, name: string): string {
  const path = `${directory}/${name}`;
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new EngineError(
      `Cannot read Docker TLS file ${path}: ${(error as Error).message}; ` +
        `check DOCKER_CERT_PATH`,
      { cause: error },
    );
  }
}

/** Builds dockerode's connection options for an engine address. */
export function dockerodeOptions(
  endpoint: DockerEndpoint,
): Docker.DockerOptions {
  switch (endpoint.kind) {
    case "unix":
      return { socketPath: endpoint.socketPath };
    case "npipe":
      return { socketPath: endpoint.pipePath };
    case "tcp": {
      if (endpoint.tls === null) {
        return { host: endpoint.host, port: endpoint.port, protocol: "http" };
      }
      const { certPath, verify } = endpoint.tls;
      return {
        host: endpoint.host,
        port: endpoint.port,
        protocol: "https",
        ca: verify ? readTlsFile(certPath, "ca.pem") : undefined,
        cert: readTlsFile(certPath, "cert.pem"),
        key: readTlsFile(certPath, "key.pem"),
      };
    }
  }
}

/**
 * Explains a failure to reach the engine, naming the Deno flag when the
 * process lacks the permission for the socket.
 */
export function describeEngineFailure(
  endpoint: DockerEndpoint,
  error: unknown,
): string {
  const text = messageOf(error);
  if (error instanceof Deno.errors.NotCapable || /NotCapable/.test(text)) {
    const path = endpoint.kind === "unix" ? endpoint.socketPath : endpoint.text;
    return `Docker endpoint ${endpoint.text} is not allowed: Deno needs ` +
      `--allow-net=unix:${path} --allow-read=${path} --allow-write=${path} ` +
      `(${text})`;
  }
  if (/ENOENT|No such file/.test(text)) {
    return `Docker endpoint ${endpoint.text} does not exist: is the Docker ` +
      `engine running? (${text})`;
  }
  if (/EACCES|permission denied/i.test(text)) {
    return `Docker endpoint ${endpoint.text} refused access: the user needs ` +
      `to be in the docker group or root (${text})`;
  }
  return `Docker endpoint ${endpoint.text} did not answer: ${text}`;
}

/** Runs job containers on one Docker engine. */
export class DockerBackend implements ExecutionBackend {
  readonly #docker: Docker;
  readonly #endpoint: DockerEndpoint;
  readonly #hardening: ReturnType<typeof hardeningContainerOptions>;

  /**
   * @param endpoint the engine's address
   * @param options.hardening limits and security options of every
   *   container; the defaults of `DEFAULT_CONTAINER_HARDENING` when unset
   */
  constructor(
    endpoint: DockerEndpoint,
    options: { hardening?: ContainerHardening } = {},
  ) {
    this.#endpoint = endpoint;
    this.#docker = new Docker(dockerodeOptions(endpoint));
    this.#hardening = hardeningContainerOptions(
      options.hardening ?? DEFAULT_CONTAINER_HARDENING,
    );
  }

  /** The dockerode client, for the parts of the daemon that list or adopt containers. */
  get client(): Docker {
    return this.#docker;
  }

  async describe(): Promise<
    { name: string; version: string; apiVersion: string }
  > {
    try {
      const version = await this.#docker.version();
      return {
        name: "Docker",
        version: version.Version,
        apiVersion: version.ApiVersion,
      };
    } catch (error) {
      throw new EngineError(describeEngineFailure(this.#endpoint, error), {
        cause: error,
      });
    }
  }

  async #imagePresent(reference: string): Promise<boolean> {
    try {
      await this.#docker.getImage(reference).inspect();
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw new EngineError(
        `Inspecting image ${reference} failed: ${messageOf(error)}`,
        { cause: error },
      );
    }
  }

  async ensureImage(
    image: ImageReference,
    options: {
      policy: PullPolicy;
      auth: RegistryAuth | null;
      onProgress?: PullProgress;
    },
  ): Promise<void> {
    const reference = formatImageReference(image);
    if (options.policy !== "Always" && await this.#imagePresent(reference)) {
      return;
    }
    if (options.policy === "Never") {
      throw new ImageError(
        `Image ${reference} is not on the engine and PullPolicy is Never; ` +
          `load it first or set ContainerSettings:PullPolicy to IfNotPresent`,
      );
    }
    await this.#pull(reference, options.auth, options.onProgress);
  }

  async #pull(
    reference: string,
    auth: RegistryAuth | null,
    onProgress: PullProgress | undefined,
  ): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.#docker.pull(
        reference,
        auth === null ? {} : { authconfig: auth },
      );
    } catch (error) {
      throw pullError(reference, messageOf(error), error);
    }
    await new Promise<void>((resolve, reject) => {
      let failure: string | null = null;
      this.#docker.modem.followProgress(
        stream,
        (error: Error | null) => {
          if (error !== null) {
            reject(pullError(reference, messageOf(error), error));
          } else if (failure !== null) {
            reject(pullError(reference, failure));
          } else {
            resolve();
          }
        },
        (event: { status?: string; id?: string; error?: string }) => {
          // An error can arrive inside a stream that ends normally.
          if (event.error !== undefined) {
            failure ??= event.error;
            return;
          }
          if (event.status !== undefined) {
            onProgress?.(
              event.id === undefined
                ? event.status
                : `${event.id}: ${event.status}`,
            );
          }
        },
      );
    });
  }

  async start(spec: RunSpec): Promise<RunHandle> {
    const binds = (spec.readOnlyMounts ?? []).map((mount) =>
      `${mount.hostPath}:${mount.containerPath}:ro`
    );
    let container: Docker.Container;
    try {
      container = await this.#docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Env: spec.env,
        Labels: spec.labels,
        Tty: false,
        AttachStdout: false,
        AttachStderr: false,
        User: this.#hardening.User,
        HostConfig: {
          ...this.#hardening.HostConfig,
          // Output is read to its end before the container is removed.
          AutoRemove: false,
          Binds: binds.length > 0 ? binds : undefined,
        },
      });
    } catch (error) {
      throw new EngineError(
        `Creating container for image ${spec.image} failed: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
    const handle = new DockerRun(container);
    try {
      await container.start();
    } catch (error) {
      await handle.remove();
      throw new EngineError(
        `Starting container ${container.id.slice(0, 12)} failed: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
    return handle;
  }

  attach(containerId: string): RunHandle {
    return new DockerRun(this.#docker.getContainer(containerId));
  }

  async listRuns(labels: Record<string, string>): Promise<RunSummary[]> {
    let containers: Docker.ContainerInfo[];
    try {
      containers = await this.#docker.listContainers({
        all: true,
        filters: {
          label: Object.entries(labels).map(([key, value]) =>
            `${key}=${value}`
          ),
        },
      });
    } catch (error) {
      throw new EngineError(describeEngineFailure(this.#endpoint, error), {
        cause: error,
      });
    }
    return containers.map((container) => ({
      id: container.Id,
      labels: container.Labels ?? {},
      running: container.State === "running",
      neverStarted: container.State === "created",
    }));
  }
}

function pullError(
  reference: string,
  detail: string,
  cause?: unknown,
): ImageError {
  const authenticationFailed =
    /unauthorized|authentication required|no basic auth credentials|denied/i
      .test(detail);
  return new ImageError(`Pulling image ${reference} failed: ${detail}`, {
    authenticationFailed,
    cause,
  });
}

/** The body of the engine's wait endpoint. */
interface WaitResponse {
  StatusCode: number;
  Error?: { Message?: string } | null;
}

/** Time between the inspections that back up a wait, in milliseconds. */
const WAIT_CHECK_MS = 2_000;

class DockerRun implements RunHandle {
  readonly #container: Docker.Container;
  #stream: NodeJS.ReadableStream | null = null;
  #closed = false;

  constructor(container: Docker.Container) {
    this.#container = container;
  }

  get id(): string {
    return this.#container.id;
  }

  /**
   * Follows the container's log from its start, then reads what the follow
   * stream missed once the container stopped (see docker_log_frames.ts).
   */
  async *output(): AsyncIterable<Uint8Array> {
    this.#closed = false;
    const position = new LogPosition();
    const follow = await this.#container.logs({
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
    }) as unknown as NodeJS.ReadableStream;
    this.#stream = follow;
    try {
      yield* this.#frames(follow as AsyncIterable<Uint8Array>, position);
    } catch (error) {
      // A stream closed by closeOutput ends with an abort; that is its end.
      if (!this.#closed) throw error;
    } finally {
      this.#stream = null;
    }
    if (this.#closed) return;
    const state = (await this.#container.inspect()).State;
    // A stream that ended while the container runs is the engine's doing;
    // the runner reconnects and reads again.
    if (state.Running) return;
    // Follow mode streams the rest of a stopped container's log and ends;
    // without it dockerode would buffer the whole rest in memory.
    const rest = await this.#container.logs({
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
      since: position.since,
    }) as unknown as NodeJS.ReadableStream;
    this.#stream = rest;
    try {
      yield* this.#frames(rest as AsyncIterable<Uint8Array>, position);
    } catch (error) {
      if (!this.#closed) throw error;
    } finally {
      this.#stream = null;
    }
  }

  async *#frames(
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    position: LogPosition,
  ): AsyncIterable<Uint8Array> {
    const reader = new FrameReader();
    position.startPass();
    for await (const chunk of chunks) {
      const out: Uint8Array[] = [];
      for (const frame of reader.push(chunk)) {
        const split = splitTimestamp(frame.payload);
        if (split === null) {
          out.push(encodeFrame(frame.stream, frame.payload));
        } else if (position.accept(frame.stream, split.key)) {
          out.push(encodeFrame(frame.stream, split.message));
        }
      }
      if (out.length === 1) yield out[0];
      else if (out.length > 1) yield concatFrames(out);
    }
  }

  closeOutput(): void {
    this.#closed = true;
    const stream = this.#stream as { destroy?: () => void } | null;
    this.#stream = null;
    stream?.destroy?.();
  }

  async wait(): Promise<ExitResult> {
    const waiting = this.#container.wait() as Promise<WaitResponse>;
    const result = await Promise.race([waiting, this.#watchExit(waiting)]);
    let oomKilled = false;
    try {
      const state = (await this.#container.inspect()).State;
      oomKilled = state.OOMKilled;
    } catch {
      // The exit code is known; only the OOM flag is lost.
    }
    return {
      exitCode: result.StatusCode,
      oomKilled,
      error: result.Error?.Message || null,
    };
  }

  /**
   * Inspects the container every `WAIT_CHECK_MS` until `waiting` settles.
   * Resolves with the exit code once the container has stopped, and rejects
   * when the engine does not respond.
   *
   * NOTE: dockerode 4.0.9 under Deno 2.9 never settles a wait request whose
   * connection a dying engine dropped (SIGKILL), so the wait alone would
   * follow a dead engine until the job's timeout.
   */
  #watchExit(waiting: Promise<unknown>): Promise<WaitResponse> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let settled = false;
      const end = () => {
        settled = true;
        clearTimeout(timer);
      };
      waiting.then(end, end);
      const check = async () => {
        try {
          const state = (await this.#container.inspect()).State;
          if (settled) return;
          if (state.Status === "exited" || state.Status === "dead") {
            end();
            resolve({
              StatusCode: state.ExitCode,
              Error: state.Error === "" ? null : { Message: state.Error },
            });
            return;
          }
          timer = setTimeout(check, WAIT_CHECK_MS);
        } catch (error) {
          if (settled) return;
          end();
          reject(error);
        }
      };
      timer = setTimeout(check, WAIT_CHECK_MS);
    });
  }

  async stop(graceSeconds: number): Promise<void> {
    try {
      await this.#container.stop({ t: graceSeconds });
    } catch (error) {
      // 304: already stopped; 404: already gone.
      const status = statusOf(error);
      if (status !== 304 && status !== 404) throw error;
    }
  }

  async remove(): Promise<void> {
    try {
      await this.#container.remove({ force: true, v: true });
    } catch (error) {
      const status = statusOf(error);
      // 404: gone; 409: removal already in progress.
      if (status !== 404 && status !== 409) throw error;
    }
  }
}

function concatFrames(frames: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const frame of frames) size += frame.length;
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const frame of frames) {
    joined.set(frame, offset);
    offset += frame.length;
  }
  return joined;
}
