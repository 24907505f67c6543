import {
  describeFetchError,
  excerpt,
  readLimited,
} from "../iam_api/http_body.ts";
/**
 * A customer's client certificate: fetched from `GET
 * /api/certificates/{customer}`, written as a PFX file into a private
 * temporary directory for one job's container, and removed afterwards.
 *
 * The certificate data and its password are secrets. No error message or
 * log record of this module contains either; callers must keep it so.
 *
 * @module
 */

/** A customer certificate as the API returns it, decoded. */
export interface CustomerCertificate {
  customerName: string;
  /** The PFX (PKCS #12) file. Secret: never log it. */
  data: Uint8Array;
  /** The PFX password. Secret: never log it. */
  password: string;
  /** SHA-1 thumbprint as the API spells it; not secret. */
  thumbprint: string;
  /** Expiry, or null when the API sent none that could be read. */
  expiresAt: Date | null;
}

/** A failed certificate fetch. The message contains no secret. */
export class CertificateError extends Error {
  /** HTTP status, or null when no response arrived or it was malformed. */
  readonly status: number | null;

  constructor(
    message: string,
    options: { status: number | null; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "CertificateError";
    this.status = options.status;
  }
}

/** Options of {@linkcode fetchCustomerCertificate}. */
export interface FetchCertificateOptions {
  /** Base URL of the API without a trailing slash. */
  baseUrl: string;
  /**
   * `Authorization` header value, such as `Bearer TOKEN`. Leave it unset
   * when `fetch` adds the header itself, as `ApiAuth.fetch` does.
   * @default {null}
   */
  authorizationHeader?: string | null;
  /** @default {globalThis.fetch} */
  fetch?: (input: string | URL, init?: RequestInit) => Promise<Response>;
  /** Time allowed for the request, response included, in ms. @default {30000} */
  requestTimeoutMs?: number;
  /** Maximum size of a response read, in bytes. @default {1048576} */
  maxResponseBytes?: number;
}

const ENDPOINT = "GET /api/certificates/{customer}";

/**
 * Fetches a customer's certificate.
 *
 * @returns the certificate, or null when the customer has none (404)
 * @throws {CertificateError} when the call fails, the response is not a
 *   certificate, or it belongs to another customer
 */
export async function fetchCustomerCertificate(
  customer: string,
  options: FetchCertificateOptions,
): Promise<CustomerCertificate | null> {
  if (customer.trim() === "") {
    throw new TypeError(
      `Customer name "${customer}" is empty; pass the job's customer`,
    );
  }
  const {
    authorizationHeader = null,
    fetch: fetchFunction = globalThis.fetch,
    requestTimeoutMs = 30_000,
    maxResponseBytes = 1024 * 1024,
  } = options;
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const url = `${baseUrl}/api/certificates/${encodeURIComponent(customer)}`;
  const headers: Record<string, string> = { "accept": "application/json" };
  if (authorizationHeader !== null) {
    headers["authorization"] = authorizationHeader;
  }

  let response: Response;
  let text: string;
  try {
    response = await fetchFunction(url, {
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(requestTimeoutMs),
    });
    text = await readLimited(response, maxResponseBytes);
  } catch (error) {
    throw new CertificateError(
      `${ENDPOINT} for customer "${customer}" to ${baseUrl} failed: ${
        describeFetchError(error)
      }`,
      { status: null, cause: error },
    );
  }
  const status = response.status;
  if (status === 404) return null;
  if (status !== 200) {
    // An error response contains no certificate, so an excerpt is safe to show.
    const detail = excerpt(text);
    throw new CertificateError(
      `${ENDPOINT} for customer "${customer}" returned ${status}` +
        (detail === "" ? "" : ` with "${detail}"`),
      { status },
    );
  }
  return parseCertificate(customer, text);
}

// A 200 body contains the password and the key, so no message quotes it.
function parseCertificate(customer: string, text: string): CustomerCertificate {
  const invalid = (what: string) =>
    new CertificateError(
      `${ENDPOINT} for customer "${customer}" returned 200 with ${what}`,
      { status: 200 },
    );
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid("a body that is not JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw invalid("JSON that is not an object");
  }

  const customerName = readProperty(body, "customerName");
  if (
    typeof customerName === "string" &&
    customerName.toLowerCase() !== customer.toLowerCase()
  ) {
    throw invalid(
      `the certificate of customer "${customerName}"; it is not used`,
    );
  }
  const certificateData = readProperty(body, "certificateData");
  if (typeof certificateData !== "string" || certificateData.trim() === "") {
    throw invalid("no certificateData; expected a base64 PFX file");
  }
  const data = decodeBase64(certificateData);
  if (data === null) throw invalid("certificateData that is not base64");
  const password = readProperty(body, "password");
  if (
    password !== undefined && password !== null && typeof password !== "string"
  ) {
    throw invalid("a password that is not a string");
  }
  const thumbprint = readProperty(body, "thumbprint");
  const expiresAt = parseTime(readProperty(body, "expiresAt"));
  return {
    customerName: typeof customerName === "string" ? customerName : customer,
    data,
    // A PFX without a password is valid; the container then gets "".
    password: password ?? "",
    thumbprint: typeof thumbprint === "string" ? thumbprint : "",
    expiresAt: expiresAt === null ? null : new Date(expiresAt),
  };
}

function decodeBase64(text: string): Uint8Array | null {
  let binary: string;
  try {
    binary = atob(text.replace(/\s+/g, ""));
  } catch {
    return null;
  }
  if (binary.length === 0) return null;
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Prefix of the directories that {@linkcode writeCertificateFile} creates. */
export const CERTIFICATE_DIRECTORY_PREFIX = "iam-orchestrator-cert-";
/** Name of the PFX file inside such a directory. */
export const CERTIFICATE_FILE_NAME = "client-cert.pfx";

/** A certificate written to disk for one job. */
export interface CertificateFile {
  /** Absolute path of the PFX file, for a read-only bind mount. */
  hostPath: string;
  /** The private directory that contains the file. */
  directory: string;
  /** The PFX password, for `CLIENT_CERT_PASSWORD`. Secret: never log it. */
  password: string;
  thumbprint: string;
  expiresAt: Date | null;
  /** Deletes the directory and the file; later calls do nothing. */
  remove(): Promise<void>;
}

/** Options of {@linkcode writeCertificateFile}. */
export interface WriteCertificateOptions {
  /**
   * Directory in which the private directory is created; created with
   * mode 0700 when missing. Use one directory per daemon, because
   * `removeStaleCertificateDirectories` empties it at startup.
   * @default the system's temporary directory
   */
  parentDirectory?: string;
  /**
   * Mode of the PFX file. The directory (0700) keeps other host users out
   * whatever this is. Inside the container only the file's own mode
   * applies, so a job whose image runs as a user other than the file's
   * owner (and without CAP_DAC_OVERRIDE) needs 0o644 to read it.
   * @default {0o600}
   */
  fileMode?: number;
}

/**
 * Writes the PFX bytes to `client-cert.pfx` in a new directory of mode
 * 0700 whose name starts with {@linkcode CERTIFICATE_DIRECTORY_PREFIX}.
 * On Windows the modes are not set.
 *
 * @throws {Deno.errors.NotCapable} without write permission for the parent
 */
export async function writeCertificateFile(
  certificate: CustomerCertificate,
  options: WriteCertificateOptions = {},
): Promise<CertificateFile> {
  const { parentDirectory, fileMode = 0o600 } = options;
  if (!Number.isInteger(fileMode) || fileMode < 0 || fileMode > 0o777) {
    throw new RangeError(
      `File mode "${fileMode}" is invalid; pass a permission such as 0o600`,
    );
  }
  const unix = Deno.build.os !== "windows";
  if (parentDirectory !== undefined) {
    await Deno.mkdir(parentDirectory, { recursive: true, mode: 0o700 });
  }
  let directory = await Deno.makeTempDir({
    dir: parentDirectory,
    prefix: CERTIFICATE_DIRECTORY_PREFIX,
  });
  let removing: Promise<void> | null = null;
  const remove = () => {
    removing ??= removeDirectory(directory);
    return removing;
  };
  let hostPath: string;
  try {
    // A bind mount needs an absolute path, and the parent may be relative,
    // as the default state directory is.
    directory = await Deno.realPath(directory);
    hostPath = `${directory}/${CERTIFICATE_FILE_NAME}`;
    // The umask may narrow the requested modes, so they are set again.
    if (unix) await Deno.chmod(directory, 0o700);
    await Deno.writeFile(hostPath, certificate.data, {
      createNew: true,
      mode: fileMode,
    });
    if (unix) await Deno.chmod(hostPath, fileMode);
  } catch (error) {
    await remove();
    throw error;
  }
  return {
    hostPath,
    directory,
    password: certificate.password,
    thumbprint: certificate.thumbprint,
    expiresAt: certificate.expiresAt,
    remove,
  };
}

async function removeDirectory(directory: string): Promise<void> {
  try {
    await Deno.remove(directory, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Deletes the certificate directories left in `parentDirectory` by a
 * daemon that stopped without cleaning up. Call it at startup, before any
 * job runs: it also deletes the directories of running jobs.
 *
 * @returns the paths deleted; none when the parent does not exist
 */
export async function removeStaleCertificateDirectories(
  parentDirectory: string,
): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(parentDirectory)) {
      if (
        !entry.isDirectory ||
        !entry.name.startsWith(CERTIFICATE_DIRECTORY_PREFIX)
      ) {
        continue;
      }
      const path = `${parentDirectory.replace(/\/+$/, "")}/${entry.name}`;
      await removeDirectory(path);
      removed.push(path);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return removed;
    throw error;
  }
  return removed;
}

/** Default of `CertificateSettings:WarnDays`. */
export const DEFAULT_CERTIFICATE_WARN_DAYS = 30;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Returns a warning when the certificate has expired or expires within
 * `warnDays`, else null. A certificate without a known expiry gets none.
 */
export function certificateExpiryWarning(
  certificate: Pick<
    CustomerCertificate,
    "customerName" | "thumbprint" | "expiresAt"
  >,
  options: {
    /** @default {30} */
    warnDays?: number;
    /** Current time in ms since the epoch. @default {Date.now()} */
    now?: number;
  } = {},
): string | null {
  const { warnDays = DEFAULT_CERTIFICATE_WARN_DAYS, now = Date.now() } =
    options;
  if (!Number.isFinite(warnDays) || warnDays < 0) {
    throw new RangeError(
      `Warning period "${warnDays}" is invalid; pass a number of days of ` +
        `0 or more`,
    );
  }
  const expiresAt = certificate.expiresAt;
  if (expiresAt === null || Number.isNaN(expiresAt.getTime())) return null;
  const name = certificate.thumbprint === ""
    ? `Certificate of customer ${certificate.customerName}`
    : `Certificate of customer ${certificate.customerName} (thumbprint ` +
      `${certificate.thumbprint})`;
  const date = expiresAt.toISOString();
  const remainingMs = expiresAt.getTime() - now;
  if (remainingMs <= 0) {
    return `${name} expired at ${date}; jobs that use it will fail to ` +
      `authenticate until a new certificate is uploaded to the IAM API`;
  }
  if (remainingMs > warnDays * DAY_MS) return null;
  const days = Math.floor(remainingMs / DAY_MS);
  const within = days === 0
    ? "within a day"
    : `in ${days} day${days === 1 ? "" : "s"}`;
  return `${name} expires ${within}, at ${date}; upload a new ` +
    `certificate to the IAM API before then`;
}

/** Reads a property case-insensitively, as ASP.NET clients must. */
function readProperty(value: object, name: string): unknown {
  const lower = name.toLowerCase();
  for (const [key, item] of Object.entries(value)) {
    if (key.toLowerCase() === lower) return item;
  }
  return undefined;
}

// ISO 8601 with an explicit offset or `Z`; a time without one is UTC.
const HAS_OFFSET = /(?:Z|[+-]\d{2}:?\d{2})$/i;

function parseTime(value: unknown): number | null {
  if (typeof value !== "string" || value.trim() === "") return null;
  const text = value.trim();
  const time = Date.parse(HAS_OFFSET.test(text) ? text : `${text}Z`);
  return Number.isFinite(time) ? time : null;
}
