/**
 * Engine requests through `node:http` over a socket path, for the Windows
 * named pipe that Deno's `fetch` cannot open. It also works over a Unix
 * socket, which is how it is tested.
 *
 * Loaded only for an `npipe://` address, so that other daemons do not pay
 * for `node:http`.
 *
 * @module
 */
import { request } from "node:http";
import { Readable } from "node:stream";
import type { EngineTransport } from "./engine_client.ts";

/** Sends each request on a connection to a socket or named pipe. */
export class NodeHttpTransport implements EngineTransport {
  readonly #socketPath: string;

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  request(
    method: string,
    path: string,
    init: { headers: Headers; body?: string; signal?: AbortSignal },
  ): Promise<Response> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { host: "docker" };
      init.headers.forEach((value, name) => headers[name] = value);
      if (init.body !== undefined) {
        headers["content-length"] = String(
          new TextEncoder().encode(init.body).length,
        );
      }
      const outgoing = request({
        socketPath: this.#socketPath,
        path,
        method,
        headers,
        signal: init.signal,
      }, (incoming) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          if (typeof value === "string") responseHeaders.set(name, value);
        }
        const status = incoming.statusCode ?? 500;
        // A Response may not carry a body with these statuses.
        const empty = status === 204 || status === 304;
        if (empty) incoming.resume();
        resolve(
          new Response(
            empty
              ? null
              : Readable.toWeb(incoming) as ReadableStream<Uint8Array>,
            {
              status,
              statusText: incoming.statusMessage,
              headers: responseHeaders,
            },
          ),
        );
      });
      outgoing.on("error", reject);
      outgoing.end(init.body);
    });
  }

  close(): void {
    // The connections belong to node:http's global agent, not to this object.
  }
}
