/**
 * The bearer token that every request to the second IAM API generation
 * carries: none, a fixed token from the configuration, or a token from
 * `POST /api/auth/login` that is renewed before it expires.
 *
 * @example
 * ```ts
 * const credentials = await loadApiCredentials(settings.api.auth);
 * const auth = new ApiAuth(credentials, { baseUrl: settings.api.baseUrl });
 * const response = await auth.fetch(`${baseUrl}/api/jobs/${id}`);
 * ```
 *
 * @module
 */
import { getLogger, type Logger } from "@logtape/logtape";
import { backoffDelay, sleep as sleepFor } from "./retry.ts";
import { describeFetchError, excerpt, readLimited } from "./http_body.ts";

/** Source of the bearer token. */
export type ApiCredentials =
  | { kind: "none" }
  | { kind: "token"; token: string }
  | { kind: "login"; username: string; password: string };

/**
 * The `ApiSettings` keys that carry credentials, as resolved from the
 * configuration. An empty string means the key is not set.
 */
export interface ApiCredentialSettings {
  /** `ApiSettings:Token`: a fixed bearer token. */
  token: string;
  /** `ApiSettings:TokenFile`: a file holding a fixed bearer token. */
  tokenFile: string;
  /** `ApiSettings:Username`: the account for `POST /api/auth/login`. */
  username: string;
  /** `ApiSettings:Password`: that account's password. */
  password: string;
  /** `ApiSettings:PasswordFile`: a file holding that password. */
  passwordFile: string;
}

/** Reads a file as text; tests replace `Deno.readTextFile`. */
export type ReadTextFile = (path: string) => Promise<string>;

/** A login that did not produce a token. The message contains no secret. */
export class LoginError extends Error {
  /** HTTP status of the login response, or null when none arrived. */
  readonly status: number | null;

  constructor(
    message: string,
    options: { status: number | null; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "LoginError";
    this.status = options.status;
  }
}

/**
 * Reads a secret from a file named by a setting, dropping the line breaks
 * at its end that editors and `echo` add. Other white space is kept,
 * because it can be part of a password.
 *
 * @throws {TypeError} when the file cannot be read or is empty; the
 *   message names the setting and the file, never the content
 */
export async function readSecretFile(
  path: string,
  options: { settingKey: string; readTextFile?: ReadTextFile },
): Promise<string> {
  const { settingKey, readTextFile = Deno.readTextFile } = options;
  let text: string;
  try {
    text = await readTextFile(path);
  } catch (error) {
    throw new TypeError(
      `Cannot read ${settingKey} "${path}": ${describeReadError(error, path)}`,
      { cause: error },
    );
  }
  const secret = text.replace(/[\r\n]+$/, "");
  if (secret === "") {
    throw new TypeError(
      `${settingKey} "${path}" is empty; write the value into it or ` +
        `unset ${settingKey}`,
    );
  }
  return secret;
}

function describeReadError(error: unknown, path: string): string {
  if (error instanceof Deno.errors.NotCapable) {
    return `Deno permission missing; run with --allow-read=${path}`;
  }
  if (error instanceof Deno.errors.NotFound) {
    return "the file does not exist; create it or fix the path";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "the daemon's user may not read it; fix the file's owner or mode";
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return "it is a directory; name the file instead";
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Resolves the credential settings into one mode. A token and a login
 * cannot both be configured, and each secret comes from its key or its
 * file, not both. Nothing has a built-in default: with no key set the
 * mode is `none`.
 *
 * @throws {TypeError} for a contradictory or incomplete combination, or a
 *   file that cannot be read
 */
export async function loadApiCredentials(
  settings: ApiCredentialSettings,
  options: { readTextFile?: ReadTextFile } = {},
): Promise<ApiCredentials> {
  const { readTextFile } = options;
  const hasToken = settings.token !== "" || settings.tokenFile !== "";
  const hasLogin = settings.username !== "" || settings.password !== "" ||
    settings.passwordFile !== "";
  if (settings.token !== "" && settings.tokenFile !== "") {
    throw new TypeError(
      "ApiSettings:Token and ApiSettings:TokenFile are both set; set only one",
    );
  }
  if (settings.password !== "" && settings.passwordFile !== "") {
    throw new TypeError(
      "ApiSettings:Password and ApiSettings:PasswordFile are both set; " +
        "set only one",
    );
  }
  if (hasToken && hasLogin) {
    throw new TypeError(
      "Both a fixed token (ApiSettings:Token or TokenFile) and a login " +
        "(ApiSettings:Username, Password or PasswordFile) are set; keep one",
    );
  }
  if (hasToken) {
    const token = settings.tokenFile === ""
      ? settings.token
      : await readSecretFile(settings.tokenFile, {
        settingKey: "ApiSettings:TokenFile",
        readTextFile,
      });
    return { kind: "token", token: token.trim() };
  }
  if (!hasLogin) return { kind: "none" };
  if (settings.username === "") {
    throw new TypeError(
      "A password is set but ApiSettings:Username is empty; set the user " +
        "name of the orchestrator's account",
    );
  }
  if (settings.password === "" && settings.passwordFile === "") {
    throw new TypeError(
      `ApiSettings:Username "${settings.username}" is set without a ` +
        `password; set ApiSettings:Password or ApiSettings:PasswordFile`,
    );
  }
  const password = settings.passwordFile === ""
    ? settings.password
    : await readSecretFile(settings.passwordFile, {
      settingKey: "ApiSettings:PasswordFile",
      readTextFile,
    });
  return { kind: "login", username: settings.username, password };
}

/** Maximum time that a token is renewed before it expires. */
export const MAX_RENEWAL_MARGIN_MS = 5 * 60 * 1000;

/**
 * Returns how long before expiry a token is renewed: 10% of its lifetime,
 * at most 5 minutes. A one-hour token is renewed 5 minutes early, a
 * ten-minute token 1 minute early.
 */
export function renewalMargin(lifetimeMs: number): number {
  return Math.max(0, Math.min(MAX_RENEWAL_MARGIN_MS, lifetimeMs * 0.1));
}

/** Options of {@linkcode ApiAuth}. */
export interface ApiAuthOptions {
  /** Base URL of the API without a trailing slash. */
  baseUrl: string;
  /** @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Clock in milliseconds since the epoch. @default {Date.now} */
  now?: () => number;
  /** Waits between login attempts. @default the `sleep` of retry.ts */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Randomness for the backoff jitter, in [0, 1). @default {Math.random} */
  random?: () => number;
  /** Time allowed for one login request, in ms. @default {30000} */
  requestTimeoutMs?: number;
  /**
   * Login attempts before the waiting callers get a `LoginError`. The
   * daemon keeps trying, so that it recovers once the API or the account
   * is fixed. @default {Infinity}
   */
  maxLoginAttempts?: number;
  /** @default getLogger(["iam-orchestrator", "api-auth"]) */
  logger?: Logger;
}

/** First wait between login attempts, in ms. */
const LOGIN_BACKOFF_BASE_MS = 1_000;
/** Maximum wait between login attempts, in ms. */
const LOGIN_BACKOFF_CAP_MS = 60_000;
/** Maximum size of a login response read, in bytes. */
const MAX_LOGIN_RESPONSE_BYTES = 64 * 1024;
/** Shortest time between two warnings about a 401 that no login can fix, in ms. */
const WARNING_INTERVAL_MS = 60_000;

interface TokenState {
  header: string;
  /** Time after which the next caller starts a renewal, in ms. */
  renewAt: number;
  /** Time after which the token is not used at all, in ms. */
  expiresAt: number;
}

/**
 * Supplies the `Authorization` header for IAM API requests. One instance
 * serves every request of the daemon, so concurrent callers share one
 * login.
 */
export class ApiAuth {
  readonly #credentials: ApiCredentials;
  readonly #loginUrl: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #logger: Logger;
  readonly #closed = new AbortController();
  #token: TokenState | null = null;
  #login: Promise<TokenState> | null = null;
  #lastWarning = -Infinity;

  constructor(credentials: ApiCredentials, options: ApiAuthOptions) {
    const maxAttempts = options.maxLoginAttempts ?? Infinity;
    if (!(maxAttempts >= 1)) {
      throw new RangeError(
        `maxLoginAttempts "${maxAttempts}" is invalid; pass 1 or more`,
      );
    }
    this.#credentials = credentials;
    this.#loginUrl = `${options.baseUrl.replace(/\/+$/, "")}/api/auth/login`;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? sleepFor;
    this.#random = options.random ?? Math.random;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxAttempts = maxAttempts;
    this.#logger = options.logger ??
      getLogger(["iam-orchestrator", "api-auth"]);
  }

  /** The configured mode. */
  get mode(): ApiCredentials["kind"] {
    return this.#credentials.kind;
  }

  /**
   * The configured secrets (password or fixed token), for the masker of
   * job output. Tokens from a login change and are not listed.
   */
  get secrets(): string[] {
    const credentials = this.#credentials;
    if (credentials.kind === "token") return [credentials.token];
    if (credentials.kind === "login") return [credentials.password];
    return [];
  }

  /**
   * Returns the `Authorization` header value, or null in mode `none`. In
   * login mode it logs in when there is no usable token, sharing one login
   * among all callers. A token inside its renewal margin is still returned
   * while a renewal runs in the background.
   *
   * @throws {LoginError} after `maxLoginAttempts` failed logins, or when
   *   the instance is closed
   * @throws the reason of `signal` when it aborts first; the shared login
   *   goes on for the other callers
   */
  async authorizationHeader(
    options: { signal?: AbortSignal } = {},
  ): Promise<string | null> {
    const credentials = this.#credentials;
    if (credentials.kind === "none") return null;
    if (credentials.kind === "token") return `Bearer ${credentials.token}`;

    const now = this.#now();
    const token = this.#token;
    if (token !== null && now < token.renewAt) return token.header;
    if (token !== null && now < token.expiresAt) {
      // The failure is logged by the login loop; the next caller retries.
      this.#startLogin().catch(() => {});
      return token.header;
    }
    const login = this.#startLogin();
    const signal = options.signal;
    if (signal === undefined) return (await login).header;
    signal.throwIfAborted();
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return (await Promise.race([login, aborted])).header;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Forgets the token after the API returned 401, so that the next call
   * logs in again. `rejectedHeader` is the header the failed request sent:
   * when another caller has already replaced that token, nothing happens,
   * so that many requests failing together cause one login. Without a
   * login (a fixed token or none) nothing can be renewed: the call only
   * logs a warning, at most once a minute.
   */
  invalidate(rejectedHeader?: string | null): void {
    if (this.#credentials.kind !== "login") {
      const now = this.#now();
      if (now - this.#lastWarning < WARNING_INTERVAL_MS) return;
      this.#lastWarning = now;
      this.#logger.warn(
        this.#credentials.kind === "token"
          ? "The IAM API rejected the fixed token (401); set a valid " +
            "ApiSettings:Token or ApiSettings:TokenFile"
          : "The IAM API returned 401 and no credentials are set; set " +
            "ApiSettings:Username with ApiSettings:Password or " +
            "PasswordFile, or ApiSettings:Token",
      );
      return;
    }
    const token = this.#token;
    if (token === null) return;
    if (rejectedHeader !== undefined && rejectedHeader !== token.header) return;
    this.#token = null;
    this.#logger.info("The IAM API rejected the token (401); logging in again");
  }

  /**
   * Sends a request with the `Authorization` header. On a 401 in login mode
   * it invalidates the token, logs in again and repeats the request once. A
   * second 401 is returned to the caller. The body must be repeatable (a
   * string, not a stream). `init.signal` also ends the wait for a login.
   */
  readonly fetch = async (
    input: string | URL,
    init: RequestInit = {},
  ): Promise<Response> => {
    const header = await this.authorizationHeader({
      signal: init.signal ?? undefined,
    });
    const response = await this.#fetch(input, withAuthorization(init, header));
    if (response.status !== 401) return response;
    if (this.#credentials.kind !== "login") {
      this.invalidate(header);
      return response;
    }
    await response.body?.cancel();
    this.invalidate(header);
    const renewed = await this.authorizationHeader({
      signal: init.signal ?? undefined,
    });
    return await this.#fetch(input, withAuthorization(init, renewed));
  };

  /** Stops login retries; waiting callers get a `LoginError`. */
  close(): void {
    this.#closed.abort();
  }

  #startLogin(): Promise<TokenState> {
    if (this.#login === null) {
      const login = this.#loginWithRetries();
      this.#login = login;
      login.then(
        () => this.#login = null,
        () => this.#login = null,
      );
    }
    return this.#login;
  }

  async #loginWithRetries(): Promise<TokenState> {
    const credentials = this.#credentials as Extract<
      ApiCredentials,
      { kind: "login" }
    >;
    const username = credentials.username;
    for (let attempt = 1;; attempt++) {
      if (this.#closed.signal.aborted) {
        throw new LoginError(
          "Login to the IAM API stopped: the client is closing",
          { status: null },
        );
      }
      let failure: LoginError;
      try {
        const token = await this.#loginOnce(credentials);
        this.#token = token;
        this.#logger.info(
          "Logged in to the IAM API as {username}; the token expires at " +
            "{expiresAt}",
          {
            username,
            attempt,
            expiresAt: Number.isFinite(token.expiresAt)
              ? new Date(token.expiresAt).toISOString()
              : "an unknown time",
          },
        );
        return token;
      } catch (error) {
        failure = error instanceof LoginError ? error : new LoginError(
          `Login to the IAM API failed: ${String(error)}`,
          { status: null, cause: error },
        );
      }
      if (attempt >= this.#maxAttempts) {
        this.#logger.error(
          "Login to the IAM API as {username} failed (status {status}), " +
            "giving up after {attempt} attempts: {error}",
          { username, status: failure.status, attempt, error: failure.message },
        );
        throw failure;
      }
      const delayMs = backoffDelay(attempt - 1, {
        baseMs: LOGIN_BACKOFF_BASE_MS,
        capMs: LOGIN_BACKOFF_CAP_MS,
        random: this.#random,
      });
      this.#logger.warn(
        "Login to the IAM API as {username} failed (status {status}), " +
          "attempt {attempt}; retrying in {delayMs} ms: {error}",
        {
          username,
          status: failure.status,
          attempt,
          delayMs,
          error: failure.message,
        },
      );
      await this.#sleep(delayMs, this.#closed.signal);
    }
  }

  async #loginOnce(
    credentials: { username: string; password: string },
  ): Promise<TokenState> {
    const signal = AbortSignal.any([
      AbortSignal.timeout(this.#timeoutMs),
      this.#closed.signal,
    ]);
    let response: Response;
    try {
      response = await this.#fetch(this.#loginUrl, {
        method: "POST",
        headers: {
          "accept": "application/json",
          "content-type": "application/json",
        },
        body: JSON.stringify({
          username: credentials.username,
          password: credentials.password,
        }),
        redirect: "manual",
        signal,
      });
    } catch (error) {
      throw new LoginError(
        `POST /api/auth/login to ${this.#loginUrl} failed: ${
          describeFetchError(error)
        }`,
        { status: null, cause: error },
      );
    }
    const receivedAt = this.#now();
    const text = await readLimited(response, MAX_LOGIN_RESPONSE_BYTES).catch(
      () => "",
    );
    const status = response.status;
    if (status === 401 || status === 403) {
      throw new LoginError(
        `POST /api/auth/login returned ${status}: the API rejected the user ` +
          `name or password; check ApiSettings:Username and ` +
          `ApiSettings:Password (or PasswordFile)`,
        { status },
      );
    }
    if (status !== 200) {
      // A server may echo the request in an error page; mask the password.
      const detail = excerpt(text.split(credentials.password).join("***"));
      throw new LoginError(
        `POST /api/auth/login returned ${status}` +
          (detail === "" ? "" : ` with "${detail}"`),
        { status },
      );
    }
    return this.#parseLogin(text, receivedAt);
  }

  // The body contains the token, so no error quotes it.
  #parseLogin(text: string, receivedAt: number): TokenState {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new LoginError(
        "POST /api/auth/login returned 200 with a body that is not JSON",
        { status: 200 },
      );
    }
    const token = readProperty(body, "token");
    if (typeof token !== "string" || token.trim() === "") {
      throw new LoginError(
        "POST /api/auth/login returned 200 without a token; expected " +
          '{"token", "username", "role", "expiresAt"}',
        { status: 200 },
      );
    }
    const header = `Bearer ${token.trim()}`;
    const expiresAt = parseTime(readProperty(body, "expiresAt"));
    if (expiresAt === null || expiresAt <= receivedAt) {
      // Clocks that disagree must not cause a login on every request: use
      // the token until the API returns 401.
      this.#logger.warn(
        "the login response's expiresAt {expiresAt} is missing or not in the " +
          "future; check the clocks of both hosts. Using the token until " +
          "the API rejects it",
        { expiresAt: String(readProperty(body, "expiresAt")) },
      );
      return { header, renewAt: Infinity, expiresAt: Infinity };
    }
    const margin = renewalMargin(expiresAt - receivedAt);
    return { header, renewAt: expiresAt - margin, expiresAt };
  }
}

function withAuthorization(
  init: RequestInit,
  header: string | null,
): RequestInit {
  const headers = new Headers(init.headers);
  if (header !== null) headers.set("authorization", header);
  return { ...init, headers };
}

/** Reads a property case-insensitively, as ASP.NET clients must. */
function readProperty(value: unknown, name: string): unknown {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return undefined;
  }
  const lower = name.toLowerCase();
  for (const [key, item] of Object.entries(value)) {
    if (key.toLowerCase() === lower) return item;
  }
  return undefined;
}

// ISO 8601 with an explicit offset or `Z`; a time without one is UTC.
const HAS_OFFSET = /(?:Z|[+-]\d{2}:?\d{2})$/i;

/** Parses an ISO 8601 time into ms since the epoch, or null. */
function parseTime(value: unknown): number | null {
  if (typeof value !== "string" || value.trim() === "") return null;
  const text = value.trim();
  const time = Date.parse(HAS_OFFSET.test(text) ? text : `${text}Z`);
  return Number.isFinite(time) ? time : null;
}
