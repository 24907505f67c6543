/**
 * The status server: liveness, readiness and Prometheus metrics over HTTP,
 * for container health checks, orchestrators and scrapers.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { DaemonMetrics } from "./metrics.ts";
import type { Readiness } from "./readiness.ts";

/** Options of {@linkcode startStatusServer}. */
export interface StatusServerOptions {
  /** Address to listen on, such as `127.0.0.1`, or `0.0.0.0` for all. */
  hostname: string;
  /** Port to listen on; 0 lets the system pick a free one. */
  port: number;
  metrics: Pick<DaemonMetrics, "render" | "contentType">;
  readiness: Pick<Readiness, "check">;
}

/** A listening status server. */
export interface StatusServer {
  /** Base URL without a trailing slash, with the port actually bound. */
  readonly url: string;
  /** Stops listening and waits for open requests to finish. */
  close(): Promise<void>;
}

const logger = getLogger(["iam-orchestrator", "status"]);

const TEXT = "text/plain; charset=utf-8";

function text(body: string, status: number, headers: HeadersInit = {}) {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": TEXT, ...headers },
  });
}

/**
 * Handles one request:
 * - `GET /healthz`: 200 while the process serves requests;
 * - `GET /readyz`: 200 when `readiness.check()` is ready, else 503 with the
 *   reason in the body;
 * - `GET /metrics`: the metrics in the Prometheus text format.
 *
 * HEAD works as GET without a body. Other methods get 405, other paths 404.
 */
export async function handleStatusRequest(
  request: Request,
  options: Pick<StatusServerOptions, "metrics" | "readiness">,
): Promise<Response> {
  const path = new URL(request.url).pathname;
  const routes = ["/healthz", "/readyz", "/metrics"];
  if (!routes.includes(path)) {
    return text(`Not found: ${path}; try ${routes.join(", ")}`, 404);
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(`Method ${request.method} is not allowed on ${path}`, 405, {
      allow: "GET, HEAD",
    });
  }
  switch (path) {
    case "/healthz":
      return text("ok", 200);
    case "/readyz": {
      const state = options.readiness.check();
      return state.ready
        ? text("ready", 200)
        : text(`not ready: ${state.reason}`, 503);
    }
    default: {
      try {
        const body = await options.metrics.render();
        return new Response(body, {
          status: 200,
          headers: { "content-type": options.metrics.contentType },
        });
      } catch (error) {
        logger.error("Rendering the metrics failed: {error}", {
          error: (error as Error).message,
        });
        return text("Rendering the metrics failed", 500);
      }
    }
  }
}

function formatUrl(hostname: string, port: number): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host}:${port}`;
}

/**
 * Starts the status server and resolves once it listens.
 *
 * @throws {RangeError} when `port` is not from 0 to 65535
 * @throws {Deno.errors.AddrInUse} when the port is taken
 * @throws {Deno.errors.NotCapable} naming the settings and the flag when
 *   Deno may not listen there
 */
export async function startStatusServer(
  options: StatusServerOptions,
): Promise<StatusServer> {
  const { hostname, port } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Invalid status port ${port}: expected a whole number from 0 to ` +
        `65535; 0 picks a free port`,
    );
  }
  let listening!: (address: Deno.NetAddr) => void;
  const listened = new Promise<Deno.NetAddr>((resolve) => {
    listening = resolve;
  });
  let server: Deno.HttpServer;
  try {
    server = serveStatus(options, listening);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new Deno.errors.NotCapable(
      `The status server of OrchestratorSettings:StatusHost ${hostname} and ` +
        `StatusPort ${port} needs --allow-net=${hostname}:${port}, or leave ` +
        `StatusPort unset to turn it off (${error.message})`,
    );
  }
  const address = await listened;
  const url = formatUrl(hostname, address.port);
  logger.info("Status server listens on {url}", { url });
  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= server.shutdown().then(() => {
        logger.info("Status server on {url} stopped", { url });
      });
      return closing;
    },
  };
}

function serveStatus(
  options: StatusServerOptions,
  listening: (address: Deno.NetAddr) => void,
): Deno.HttpServer {
  return Deno.serve({
    hostname: options.hostname,
    port: options.port,
    onListen: (address) => listening(address as Deno.NetAddr),
    onError: (error) => {
      logger.error("Status request failed: {error}", {
        error: (error as Error).message,
      });
      return text("Internal server error", 500);
    },
  }, (request) => handleStatusRequest(request, options));
}
