/**
 * A small client of the Docker Engine API for the calls the Docker backend
 * makes, on Deno's own `fetch`.
 *
 * The backend used dockerode before. Its transport, docker-modem, loads
 * ssh2, and dockerode loads gRPC and tar for BuildKit sessions and builds.
 * Those modules cost an idle daemon about 17 MiB of resident memory,
 * measured by importing them into an empty Deno 2.9 process. The Swarm
 * backend still uses dockerode and is loaded only when configured.
 *
 * Paths carry no API version, so the engine responds in its own newest
 * version, as it did for dockerode.
 *
 * @module
 */
import type { DockerEndpoint } from "../config/docker_endpoint.ts";

/** A call that the engine rejected with status 400 or above. */
export class EngineApiError extends Error {
  /** The HTTP status of the engine's response. */
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = "EngineApiError";
    this.status = status;
  }
}

/** Returns the status of an engine rejection, or undefined for other errors. */
export function engineStatusOf(error: unknown): number | undefined {
  return error instanceof EngineApiError ? error.status : undefined;
}

/** Query parameters; undefined values are left out. */
export type EngineQuery = Record<
  string,
  string | number | boolean | undefined
>;

/** Options of one engine call. */
export interface EngineCallOptions {
  query?: EngineQuery;
  /** Serialized as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Aborts the request, and the reading of a streamed response body. */
  signal?: AbortSignal;
  /**
   * Whether the response is a long stream of small writes, such as a
   * followed log. On a socket such a stream goes through `node:http`,
   * because its reads cost less per chunk than those of `fetch`. Reading
   * the 300,000 frames of a finished container's log took 2.6 s against
   * 8 s, measured with Deno 2.9.6 and Docker 20.10.
   *
   * @default {false}
   */
  bulk?: boolean;
}

/**
 * Sends HTTP requests to an engine. Paths start with `/` and include the
 * query string.
 */
export interface EngineTransport {
  request(
    method: string,
    path: string,
    init: { headers: Headers; body?: string; signal?: AbortSignal },
  ): Promise<Response>;
  close(): void;
}

/** The Docker Engine API calls of the Docker backend. */
export class EngineClient {
  readonly #endpoint: DockerEndpoint;
  #transport: Promise<EngineTransport> | null = null;
  #bulkTransport: Promise<EngineTransport> | null = null;

  /**
   * @param endpoint the engine's address; a named pipe is reached through
   *   `node:http`, loaded only for such an address
   * @param options.transport sends the requests instead of a transport
   *   built for `endpoint`
   */
  constructor(
    endpoint: DockerEndpoint,
    options: { transport?: EngineTransport } = {},
  ) {
    this.#endpoint = endpoint;
    if (options.transport !== undefined) {
      this.#transport = Promise.resolve(options.transport);
      this.#bulkTransport = this.#transport;
    } else if (endpoint.kind === "tcp" && endpoint.tls !== null) {
      // Reads the TLS files now, so that a missing one stops the daemon at
      // startup instead of failing every engine check. A socket's client is
      // made at the first call, where a missing permission is explained.
      this.#transport = createTransport(endpoint);
    }
  }

  /**
   * Sends a request and returns the response when its status is below 400.
   * The caller reads or cancels the body.
   *
   * @throws {EngineApiError} with the engine's message for a rejection
   */
  async call(
    method: string,
    path: string,
    options: EngineCallOptions = {},
  ): Promise<Response> {
    const transport = options.bulk === true
      ? await (this.#bulkTransport ??= createBulkTransport(this.#endpoint))
      : await (this.#transport ??= createTransport(this.#endpoint));
    const headers = new Headers(options.headers);
    let body: string | undefined;
    if (options.body !== undefined) {
      headers.set("content-type", "application/json");
      body = JSON.stringify(options.body);
    }
    const response = await transport.request(
      method,
      path + formatQuery(options.query),
      { headers, body, signal: options.signal },
    );
    if (response.status >= 400) {
      throw new EngineApiError(
        response.status,
        await errorMessage(response),
      );
    }
    return response;
  }

  /** Sends a request and parses the response body as JSON. */
  async json<T>(
    method: string,
    path: string,
    options: EngineCallOptions = {},
  ): Promise<T> {
    const response = await this.call(method, path, options);
    return await response.json() as T;
  }

  /**
   * Sends a request, discards the response body and returns the status,
   * such as 304 for a container that was already started or stopped.
   */
  async send(
    method: string,
    path: string,
    options: EngineCallOptions = {},
  ): Promise<number> {
    const response = await this.call(method, path, options);
    await response.body?.cancel();
    return response.status;
  }

  /** Closes the connections kept open for further requests. */
  async close(): Promise<void> {
    const transports = [this.#transport, this.#bulkTransport];
    this.#transport = null;
    this.#bulkTransport = null;
    for (const transport of new Set(transports)) (await transport)?.close();
  }
}

/** Formats a query string, with `?`, or returns "" when nothing is set. */
export function formatQuery(query: EngineQuery | undefined): string {
  if (query === undefined) return "";
  const parameters = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (typeof value === "boolean") {
      parameters.set(name, value ? "1" : "0");
    } else {
      parameters.set(name, String(value));
    }
  }
  const text = parameters.toString();
  return text === "" ? "" : `?${text}`;
}

/** Reads the engine's `{"message": "..."}` body, or else the status line. */
async function errorMessage(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const message = (JSON.parse(text) as { message?: unknown }).message;
    if (typeof message === "string" && message !== "") return message;
  } catch {
    // Not JSON: fall back to the text itself.
  }
  const trimmed = text.trim();
  return trimmed === ""
    ? `HTTP ${response.status} ${response.statusText}`.trim()
    : trimmed;
}

/**
 * Encodes registry credentials for the `X-Registry-Auth` header: JSON in
 * URL-safe base64 with padding, which the engine decodes.
 */
export function registryAuthHeader(auth: {
  username: string;
  password: string;
  serveraddress: string;
}): string {
  const json = JSON.stringify({
    username: auth.username,
    password: auth.password,
    serveraddress: auth.serveraddress,
  });
  const bytes = new TextEncoder().encode(json);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_");
}

/** The engine could not be reached or rejected a call. */
export class EngineError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "EngineError";
  }
}

/** Reads `ca.pem`, `cert.pem` or `key.pem` from DOCKER_CERT_PATH. */
export function readTlsFile(directory: string, name: string): string {
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

/**
 * Builds the transport for `bulk` calls: `node:http` on a socket, loaded at
 * the first such call, and `fetch` over TCP.
 */
async function createBulkTransport(
  endpoint: DockerEndpoint,
): Promise<EngineTransport> {
  if (endpoint.kind === "tcp") return await createTransport(endpoint);
  const { NodeHttpTransport } = await import("./node_http_transport.ts");
  return new NodeHttpTransport(
    endpoint.kind === "unix" ? endpoint.socketPath : endpoint.pipePath,
  );
}

/**
 * Builds the transport for an endpoint. TLS files are read before this
 * returns, and a missing one throws at once.
 */
function createTransport(endpoint: DockerEndpoint): Promise<EngineTransport> {
  switch (endpoint.kind) {
    case "unix":
      // Deno checks net permission for the URL's host although the request
      // goes to the socket; loopback is granted wherever the status server
      // may listen.
      return Promise.resolve(
        new FetchTransport(
          "http://127.0.0.1",
          Deno.createHttpClient({
            proxy: { transport: "unix", path: endpoint.socketPath },
          }),
        ),
      );
    case "tcp": {
      const host = endpoint.host;
      if (endpoint.tls === null) {
        return Promise.resolve(
          new FetchTransport(
            `http://${host}:${endpoint.port}`,
            Deno.createHttpClient({}),
          ),
        );
      }
      const { certPath, verify } = endpoint.tls;
      return Promise.resolve(
        new FetchTransport(
          `https://${host}:${endpoint.port}`,
          Deno.createHttpClient({
            // Without DOCKER_TLS_VERIFY the system's roots check the engine.
            caCerts: verify ? [readTlsFile(certPath, "ca.pem")] : undefined,
            cert: readTlsFile(certPath, "cert.pem"),
            key: readTlsFile(certPath, "key.pem"),
          }),
        ),
      );
    }
    case "npipe":
      return import("./node_http_transport.ts").then(
        ({ NodeHttpTransport }) => new NodeHttpTransport(endpoint.pipePath),
      );
  }
}

/** Requests through Deno's `fetch` with a client of its own. */
class FetchTransport implements EngineTransport {
  readonly #base: string;
  readonly #client: Deno.HttpClient;

  constructor(base: string, client: Deno.HttpClient) {
    this.#base = base;
    this.#client = client;
  }

  request(
    method: string,
    path: string,
    init: { headers: Headers; body?: string; signal?: AbortSignal },
  ): Promise<Response> {
    return fetch(this.#base + path, {
      method,
      headers: init.headers,
      body: init.body,
      signal: init.signal,
      client: this.#client,
    });
  }

  close(): void {
    this.#client.close();
  }
}
