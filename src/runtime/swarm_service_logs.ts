/**
 * Reading a swarm service's logs (`GET /services/{id}/logs`) as a byte
 * stream. The engine sends them in the same multiplexed format as container
 * logs: frames with an 8-byte header (stream type, three zero bytes, payload
 * length as big-endian uint32), because job services run without a TTY.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";

/** A readable byte stream of the engine that can be closed early. */
export type LogStream = AsyncIterable<Uint8Array> & { destroy(): void };

/**
 * Opens the service's stdout and stderr from their start. With `follow`,
 * the engine keeps the stream open after the task ends, so the caller must
 * close it. Without `follow`, the stream ends after the output so far.
 *
 * dockerode's `Service.logs` buffers the whole output unless it follows,
 * so this calls the endpoint through dockerode's modem to stream it.
 */
export function openServiceLogs(
  docker: Docker,
  serviceId: string,
  options: { follow: boolean },
): Promise<LogStream> {
  return new Promise((resolve, reject) => {
    docker.modem.dial({
      path: `/services/${encodeURIComponent(serviceId)}/logs?`,
      method: "GET",
      isStream: true,
      options: { follow: options.follow, stdout: true, stderr: true },
      statusCodes: {
        200: true,
        404: "no such service",
        500: "server error",
        503: "node is not part of a swarm",
      },
    }, (error: unknown, stream: unknown) => {
      if (error) reject(error);
      else resolve(stream as LogStream);
    });
  });
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * A 32-bit FNV-1a checksum over a byte sequence fed in pieces, used to check
 * that a second read of the logs starts with the bytes already delivered.
 */
export class ByteChecksum {
  #value = FNV_OFFSET;
  #length = 0;

  /** Number of bytes fed so far. */
  get length(): number {
    return this.#length;
  }

  /** The checksum of the bytes fed so far. */
  get value(): number {
    return this.#value;
  }

  /** Adds bytes to the checksum. */
  update(bytes: Uint8Array): void {
    let value = this.#value;
    for (const byte of bytes) {
      value = Math.imul(value ^ byte, FNV_PRIME) >>> 0;
    }
    this.#value = value;
    this.#length += bytes.length;
  }
}
