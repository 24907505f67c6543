/**
 * Transport security of the IAM API connection: a warning for plain HTTP
 * beyond loopback, and an HTTP client that trusts a private CA from
 * `ApiSettings:CaCertFile`.
 *
 * @module
 */
import { readSecretFile } from "./api_auth.ts";

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") ||
    host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * Returns a warning when `baseUrl` is plain `http://` to a host other than
 * loopback, else null. Over such a connection passwords, tokens, registry
 * credentials and certificates cross the network unencrypted.
 *
 * @throws {TypeError} when `baseUrl` is not a URL
 */
export function insecureTransportWarning(baseUrl: string): string | null {
  const url = new URL(baseUrl);
  if (url.protocol !== "http:" || isLoopback(url.hostname)) return null;
  return `ApiSettings:BaseUrl ${url.origin} is plain HTTP to a host that is ` +
    `not loopback: the login password, tokens, registry credentials and ` +
    `customer certificates travel unencrypted; use https://`;
}

/**
 * Creates a `fetch` that trusts the CA certificates (PEM) in `caCertFile`
 * in addition to the system's roots, for an API whose certificate a
 * private CA signed. Call `close` at shutdown.
 *
 * @throws {TypeError} when the file cannot be read, naming the file and
 *   the Deno permission when that is missing
 */
export async function createApiFetch(
  caCertFile: string,
  options: { readTextFile?: (path: string) => Promise<string> } = {},
): Promise<{ fetch: typeof fetch; close(): void }> {
  const pem = await readSecretFile(caCertFile, {
    settingKey: "ApiSettings:CaCertFile",
    readTextFile: options.readTextFile,
  });
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new TypeError(
      `ApiSettings:CaCertFile "${caCertFile}" contains no PEM certificate; ` +
        `expected a file with -----BEGIN CERTIFICATE----- blocks`,
    );
  }
  const client = Deno.createHttpClient({ caCerts: [pem] });
  const fetchWithCa = (input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, client });
  return { fetch: fetchWithCa as typeof fetch, close: () => client.close() };
}
