/**
 * Docker engine addresses in the forms the Docker CLI and the previous
 * orchestrator accept.
 *
 * @module
 */

/** TLS material for a TCP engine, as `DOCKER_CERT_PATH` lays it out. */
export interface DockerTls {
  /** Directory holding `ca.pem`, `cert.pem` and `key.pem`. */
  certPath: string;
  /** Whether the engine's certificate is checked against `ca.pem`. */
  verify: boolean;
}

/** A parsed engine address. */
export type DockerEndpoint =
  | { kind: "unix"; socketPath: string; text: string }
  | { kind: "npipe"; pipePath: string; text: string }
  | {
    kind: "tcp";
    host: string;
    port: number;
    tls: DockerTls | null;
    text: string;
  };

/** Returns the platform's default engine address, used when nothing is set. */
export function defaultDockerEndpoint(): string {
  return Deno.build.os === "windows"
    ? "npipe://./pipe/docker_engine"
    : "unix:///var/run/docker.sock";
}

/**
 * Parses an engine address: `unix:///path`, `npipe://./pipe/name`,
 * `tcp://host:port`, or `host:port` with the scheme left out. A trailing
 * slash is ignored.
 *
 * @throws {TypeError} when the address has another scheme or no port
 */
export function parseDockerEndpoint(
  text: string,
  tls: DockerTls | null = null,
): DockerEndpoint {
  const trimmed = text.trim().replace(/\/+$/, "");
  if (trimmed.startsWith("unix://")) {
    const socketPath = trimmed.slice("unix://".length);
    if (!socketPath.startsWith("/")) {
      throw new TypeError(
        `Docker endpoint "${text}" must name an absolute socket path, ` +
          `as in unix:///var/run/docker.sock`,
      );
    }
    return { kind: "unix", socketPath, text: trimmed };
  }
  if (trimmed.startsWith("npipe://")) {
    // npipe://./pipe/docker_engine names the pipe \\.\pipe\docker_engine.
    const pipePath = trimmed.slice("npipe://".length).replaceAll("/", "\\");
    return { kind: "npipe", pipePath: `\\\\${pipePath}`, text: trimmed };
  }
  const withoutScheme = trimmed.replace(/^(tcp|http|https):\/\//, "");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(withoutScheme)) {
    throw new TypeError(
      `Docker endpoint "${text}" has an unknown scheme; use unix://, ` +
        `npipe:// or tcp://`,
    );
  }
  const match = /^(\[[0-9a-fA-F:]+\]|[^:/\s]+):(\d{1,5})$/.exec(withoutScheme);
  if (match === null) {
    throw new TypeError(
      `Docker endpoint "${text}" is not unix:///path, npipe://./pipe/name ` +
        `or tcp://host:port`,
    );
  }
  const port = Number(match[2]);
  if (port < 1 || port > 65535) {
    throw new TypeError(
      `Docker endpoint "${text}" has port ${port}; expected 1 to 65535`,
    );
  }
  const host = match[1].replace(/^\[|\]$/g, "");
  return { kind: "tcp", host, port, tls, text: `tcp://${match[1]}:${port}` };
}

/** Tells whether a host name or address is on this machine's loopback. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  return bare === "localhost" || bare === "::1" || /^127\./.test(bare);
}
