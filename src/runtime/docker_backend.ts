/**
 * The local Docker engine as an execution backend, through the Engine API.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
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
  encodeFrames,
  FrameReader,
  type LogFrame,
  LogPosition,
  splitTimestamp,
} from "./docker_log_frames.ts";
import {
  formatImageReference,
  type ImageReference,
} from "./image_reference.ts";
import {
  EngineClient,
  EngineError,
  engineStatusOf,
  readTlsFile,
  registryAuthHeader,
} from "./engine_client.ts";

export { EngineError };

interface DockerApiError {
  statusCode?: number;
  message?: string;
  json?: { message?: string };
}

/** Returns the status of an engine rejection, from this client or from dockerode. */
function statusOf(error: unknown): number | undefined {
  return engineStatusOf(error) ??
    (error as DockerApiError | null)?.statusCode;
}

function messageOf(error: unknown): string {
  const api = error as DockerApiError | null;
  const own = api?.json?.message ?? api?.message ?? String(error);
  const cause = (error as { cause?: unknown } | null)?.cause;
  // Deno's fetch reports only "fetch failed" and keeps the reason in its cause.
  if (own === "fetch failed" && cause instanceof Error) {
    return messageOf(cause).replace(
      /^error sending request for url \([^)]*\): /,
      "",
    );
  }
  return own;
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
    if (endpoint.kind === "tcp") {
      return `Docker endpoint ${endpoint.text} is not allowed: Deno needs ` +
        `--allow-net=${endpoint.host}:${endpoint.port} (${text})`;
    }
    if (endpoint.kind === "npipe") {
      // node:http opens a named pipe as a file.
      const pipe = endpoint.pipePath;
      return `Docker endpoint ${endpoint.text} is not allowed: Deno needs ` +
        `--allow-read=${pipe} --allow-write=${pipe} (${text})`;
    }
    // The engine client's requests name http://127.0.0.1, which Deno checks.
    const path = endpoint.socketPath;
    return `Docker endpoint ${endpoint.text} is not allowed: Deno needs ` +
      `--allow-net=unix:${path},127.0.0.1:80 --allow-read=${path} ` +
      `--allow-write=${path} (${text})`;
  }
  if (/ENOENT|No such file/.test(text)) {
    return `Docker endpoint ${endpoint.text} does not exist: is the Docker ` +
      `engine running, and does ContainerSettings:DockerEndpoint name its ` +
      `socket? (${text})`;
  }
  if (/EACCES|permission denied/i.test(text)) {
    return `Docker endpoint ${endpoint.text} refused access: the user needs ` +
      `to be in the docker group or root (${text})`;
  }
  if (/Connection refused|ECONNREFUSED/i.test(text)) {
    return `Docker endpoint ${endpoint.text} refused the connection: is the ` +
      `Docker engine listening there, and is ContainerSettings:DockerEndpoint ` +
      `right? (${text})`;
  }
  return `Docker endpoint ${endpoint.text} did not answer: ${text}`;
}

/** The engine's response to `GET /version`, in the parts read here. */
interface VersionResponse {
  Version: string;
  ApiVersion: string;
}

/** One container of `GET /containers/json`, in the parts read here. */
interface ContainerSummary {
  Id: string;
  Labels?: Record<string, string> | null;
  State: string;
}

/** Runs job containers on one Docker engine. */
export class DockerBackend implements ExecutionBackend {
  readonly #engine: EngineClient;
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
    this.#engine = new EngineClient(endpoint);
    this.#hardening = hardeningContainerOptions(
      options.hardening ?? DEFAULT_CONTAINER_HARDENING,
    );
  }

  async describe(): Promise<
    { name: string; version: string; apiVersion: string }
  > {
    try {
      const version = await this.#engine.json<VersionResponse>(
        "GET",
        "/version",
      );
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

  /** Closes the connections to the engine that are kept for reuse. */
  async close(): Promise<void> {
    await this.#engine.close();
  }

  async #imagePresent(reference: string): Promise<boolean> {
    try {
      await this.#engine.send("GET", `/images/${reference}/json`);
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
    await this.#pull(image, options.auth, options.onProgress);
  }

  /**
   * Pulls one tag or digest. The engine streams one JSON object per line;
   * a failure can arrive as an `error` object in a stream that ends with
   * status 200.
   */
  async #pull(
    image: ImageReference,
    auth: RegistryAuth | null,
    onProgress: PullProgress | undefined,
  ): Promise<void> {
    const reference = formatImageReference(image);
    const name = image.registry === null
      ? image.repository
      : `${image.registry}/${image.repository}`;
    let response: Response;
    try {
      response = await this.#engine.call("POST", "/images/create", {
        // A name without a tag would pull every tag of the repository.
        query: { fromImage: name, tag: image.digest ?? image.tag ?? "latest" },
        headers: auth === null
          ? undefined
          : { "X-Registry-Auth": registryAuthHeader(auth) },
      });
    } catch (error) {
      throw pullError(reference, messageOf(error), error);
    }
    let failure: string | null = null;
    try {
      for await (const line of jsonLines(response.body)) {
        let event: { status?: string; id?: string; error?: string };
        try {
          event = JSON.parse(line);
        } catch {
          continue;
        }
        if (event.error !== undefined) {
          failure ??= event.error;
        } else if (event.status !== undefined) {
          onProgress?.(
            event.id === undefined
              ? event.status
              : `${event.id}: ${event.status}`,
          );
        }
      }
    } catch (error) {
      throw pullError(reference, messageOf(error), error);
    }
    if (failure !== null) throw pullError(reference, failure);
  }

  async start(spec: RunSpec): Promise<RunHandle> {
    const binds = (spec.readOnlyMounts ?? []).map((mount) =>
      `${mount.hostPath}:${mount.containerPath}:ro`
    );
    const body: Docker.ContainerCreateOptions = {
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
    };
    let id: string;
    try {
      id = (await this.#engine.json<{ Id: string }>(
        "POST",
        "/containers/create",
        { query: { name: spec.name }, body },
      )).Id;
    } catch (error) {
      throw new EngineError(
        `Creating container for image ${spec.image} failed: ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
    const handle = new DockerRun(this.#engine, id);
    try {
      await this.#engine.send("POST", `/containers/${id}/start`);
    } catch (error) {
      await handle.remove();
      throw new EngineError(
        `Starting container ${id.slice(0, 12)} failed: ${messageOf(error)}`,
        { cause: error },
      );
    }
    return handle;
  }

  attach(containerId: string): RunHandle {
    return new DockerRun(this.#engine, containerId);
  }

  async listRuns(labels: Record<string, string>): Promise<RunSummary[]> {
    let containers: ContainerSummary[];
    try {
      containers = await this.#engine.json<ContainerSummary[]>(
        "GET",
        "/containers/json",
        {
          query: {
            all: true,
            filters: JSON.stringify({
              label: Object.entries(labels).map(([key, value]) =>
                `${key}=${value}`
              ),
            }),
          },
        },
      );
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

/** Yields the lines of a body of newline-separated text, without the newline. */
async function* jsonLines(
  body: ReadableStream<Uint8Array> | null,
): AsyncIterable<string> {
  if (body === null) return;
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of body) {
    pending += decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline !== -1) {
      const line = pending.slice(0, newline).trim();
      if (line !== "") yield line;
      pending = pending.slice(newline + 1);
      newline = pending.indexOf("\n");
    }
  }
  pending += decoder.decode();
  if (pending.trim() !== "") yield pending.trim();
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

/** The parts of `GET /containers/{id}/json` read here. */
interface ContainerState {
  State: {
    Status: string;
    Running: boolean;
    OOMKilled: boolean;
    ExitCode: number;
    Error: string;
  };
}

/** Time between the inspections that back up a wait, in milliseconds. */
const WAIT_CHECK_MS = 2_000;

class DockerRun implements RunHandle {
  readonly #engine: EngineClient;
  readonly #id: string;
  #reading: AbortController | null = null;
  #closed = false;

  constructor(engine: EngineClient, id: string) {
    this.#engine = engine;
    this.#id = id;
  }

  get id(): string {
    return this.#id;
  }

  async #state(): Promise<ContainerState["State"]> {
    return (await this.#engine.json<ContainerState>(
      "GET",
      `/containers/${this.#id}/json`,
    )).State;
  }

  /**
   * Follows the container's log from its start, then reads what the follow
   * stream missed once the container stopped (see docker_log_frames.ts).
   */
  async *output(): AsyncIterable<Uint8Array> {
    this.#closed = false;
    const position = new LogPosition();
    yield* this.#read(position, undefined);
    if (this.#closed) return;
    // A stream that ended while the container runs is the engine's doing;
    // the runner reconnects and reads again.
    if ((await this.#state()).Running) return;
    // Follow mode streams the rest of a stopped container's log and ends.
    yield* this.#read(position, position.since);
  }

  async *#read(
    position: LogPosition,
    since: string | undefined,
  ): AsyncIterable<Uint8Array> {
    const reading = new AbortController();
    this.#reading = reading;
    try {
      const response = await this.#engine.call(
        "GET",
        `/containers/${this.#id}/logs`,
        {
          query: {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            since,
          },
          signal: reading.signal,
          bulk: true,
        },
      );
      if (response.body !== null) {
        yield* this.#frames(response.body, position);
      }
    } catch (error) {
      // A stream closed by closeOutput ends with an abort; that is its end.
      if (!this.#closed) throw error;
    } finally {
      if (this.#reading === reading) this.#reading = null;
    }
  }

  async *#frames(
    chunks: AsyncIterable<Uint8Array>,
    position: LogPosition,
  ): AsyncIterable<Uint8Array> {
    const reader = new FrameReader();
    position.startPass();
    for await (const chunk of chunks) {
      const unseen: LogFrame[] = [];
      for (const frame of reader.push(chunk)) {
        const split = splitTimestamp(frame.payload);
        if (split === null) {
          unseen.push(frame);
        } else if (position.accept(frame.stream, split.key)) {
          unseen.push({ stream: frame.stream, payload: split.message });
        }
      }
      if (unseen.length > 0) yield encodeFrames(unseen);
    }
  }

  closeOutput(): void {
    this.#closed = true;
    const reading = this.#reading;
    this.#reading = null;
    reading?.abort();
  }

  async wait(): Promise<ExitResult> {
    const stopWaiting = new AbortController();
    const waiting = this.#engine.json<WaitResponse>(
      "POST",
      `/containers/${this.#id}/wait`,
      { signal: stopWaiting.signal },
    );
    let result: WaitResponse;
    try {
      result = await Promise.race([waiting, this.#watchExit(waiting)]);
    } finally {
      // Ends a wait request that lost the race instead of leaving it open.
      stopWaiting.abort();
      waiting.catch(() => {});
    }
    let oomKilled = false;
    try {
      oomKilled = (await this.#state()).OOMKilled;
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
   * NOTE: a wait request whose connection a dying engine dropped (SIGKILL)
   * has been seen never to settle, so the wait alone would follow a dead
   * engine until the job's timeout.
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
          const state = await this.#state();
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
      await this.#engine.send("POST", `/containers/${this.#id}/stop`, {
        query: { t: graceSeconds },
      });
    } catch (error) {
      // 304: already stopped (a success status here); 404: already gone.
      if (statusOf(error) !== 404) throw error;
    }
  }

  async remove(): Promise<void> {
    try {
      await this.#engine.send("DELETE", `/containers/${this.#id}`, {
        query: { force: true, v: true },
      });
    } catch (error) {
      const status = statusOf(error);
      // 404: gone; 409: removal already in progress.
      if (status === 404 || status === 409) return;
      throw new EngineError(messageOf(error), { cause: error });
    }
  }
}
