/**
 * Responses of the fault kinds, and the registry of requests that the
 * server keeps open (hanging, delayed or streaming) so that closing the
 * server can end them.
 *
 * @module
 */
import type { FaultRule } from "./faults.ts";

/** Default size of a `huge` body: 50 MiB. */
export const DEFAULT_HUGE_BYTES = 50 * 1024 * 1024;

/** Default wait of a `delay` fault, in milliseconds. */
export const DEFAULT_DELAY_MS = 1000;

/** The error that a dropped response's body fails with. */
export class ConnectionDropped extends Error {
  constructor() {
    super("Connection dropped by a fault rule");
    this.name = "ConnectionDropped";
  }
}

/** Requests held open, each with the function that ends it. */
export class OpenRequests {
  #releases = new Set<() => void>();
  #closed = false;

  /** True once {@linkcode releaseAll} ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of requests held open. */
  get size(): number {
    return this.#releases.size;
  }

  /**
   * Registers a function that ends a held request; returns the function
   * that unregisters it. After closing, the release runs at once.
   */
  hold(release: () => void): () => void {
    if (this.#closed) {
      release();
      return () => {};
    }
    this.#releases.add(release);
    return () => this.#releases.delete(release);
  }

  /** Ends every held request and every later one. */
  releaseAll(): void {
    this.#closed = true;
    const releases = [...this.#releases];
    this.#releases.clear();
    for (const release of releases) release();
  }
}

/**
 * Returns a response whose status line goes out and whose body then fails,
 * so that the server resets the connection.
 *
 * NOTE: Deno.serve (Deno 2.9) sends the status line and headers before it
 * reads the body, and offers no way to close a connection without them. A
 * client therefore receives the status and then a failed body read, and the
 * status defaults to 502 so that a client that skips the body still gets a
 * failure.
 */
export function dropResponse(status = 502): Response {
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new ConnectionDropped());
    },
  });
  return new Response(body, { status });
}

/**
 * Returns a response that arrives only when the server closes; it is then
 * dropped.
 *
 * NOTE: a client that gives up does not end the hang early, because
 * reading `request.signal` makes Deno 2.9 print a warning about its legacy
 * abort behavior. The held promise is small and ends at close.
 */
export function hangResponse(open: OpenRequests): Promise<Response> {
  return new Promise((resolve) => {
    open.hold(() => resolve(dropResponse()));
  });
}

/**
 * Waits for a `delay` fault. As on a real server, the request then runs
 * even when the client has given up in the meantime.
 *
 * @returns true when the wait ended normally, false when the server closed
 *   first
 */
export function waitForDelay(
  delayMs: number,
  open: OpenRequests,
): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unregister();
      resolve(true);
    }, delayMs);
    const unregister = open.hold(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** Returns a `huge` response: `bytes` of an unterminated JSON array. */
export function hugeResponse(bytes: number, open: OpenRequests): Response {
  const prefix = new TextEncoder().encode('[{"id":"');
  const filler = new Uint8Array(64 * 1024).fill(0x41);
  let sent = 0;
  let unregister = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      unregister = open.hold(() => controller.error(new ConnectionDropped()));
    },
    pull(controller) {
      if (sent >= bytes) {
        unregister();
        controller.close();
        return;
      }
      const source = sent < prefix.length ? prefix.subarray(sent) : filler;
      const chunk = source.subarray(0, Math.min(source.length, bytes - sent));
      sent += chunk.length;
      // Copies because the stream may hand the chunk over to the network
      // layer while the filler is reused.
      controller.enqueue(chunk.slice());
    },
    cancel() {
      unregister();
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "content-length": String(bytes),
    },
  });
}

/** Returns the path that a `redirect` fault sends the client to. */
export function redirectLocation(rule: FaultRule, requestPath: string): string {
  return rule.location ??
    `/Account/Login?ReturnUrl=${encodeURIComponent(requestPath)}`;
}

/**
 * Builds the response of a fault other than `delay`, which runs the request
 * after its wait.
 */
export function faultResponse(
  rule: FaultRule,
  request: { path: string; open: OpenRequests },
): Response | Promise<Response> {
  switch (rule.kind) {
    case "status": {
      const status = rule.status ?? 500;
      return Response.json({
        title: "Injected fault",
        status,
        detail: `A fault rule answered ${request.path} with ${status}`,
      }, {
        status,
        headers: { "content-type": "application/problem+json" },
      });
    }
    case "drop":
      return dropResponse(rule.status ?? 502);
    case "garbage":
      return new Response('{"id": "7c1f", "status": Runn<<\u0000', {
        status: 200,
        headers: { "content-type": "application/json; charset=utf-8" },
      });
    case "html":
      return new Response(
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>" +
          "<body><h1>Bad Gateway</h1><p>The upstream server did not " +
          "respond.</p></body></html>\n",
        { status: 502, headers: { "content-type": "text/html" } },
      );
    case "hang":
      return hangResponse(request.open);
    case "redirect":
      return new Response(null, {
        status: rule.status ?? 302,
        headers: { location: redirectLocation(rule, request.path) },
      });
    case "huge":
      return hugeResponse(rule.bytes ?? DEFAULT_HUGE_BYTES, request.open);
    case "delay":
      throw new TypeError(
        `Fault kind "delay" has no response of its own; wait with ` +
          `waitForDelay and then handle the request`,
      );
  }
}
