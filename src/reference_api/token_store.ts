/**
 * Login and bearer tokens of the second server generation.
 *
 * Tokens are random opaque strings, not JWTs: clients must treat them as
 * opaque and rely on `expiresAt`.
 *
 * @module
 */

/** An account that may log in. */
export interface UserAccount {
  username: string;
  password: string;
  /** Role name returned by the login, e.g. `Orchestrator` or `Admin`. */
  role: string;
}

/** The body of a successful `POST /api/auth/login`. */
export interface LoginResult {
  token: string;
  username: string;
  role: string;
  /** ISO 8601 time in UTC. */
  expiresAt: string;
}

interface TokenGrant {
  username: string;
  expiresAt: number;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

/** Accounts and the tokens issued to them. */
export class TokenStore {
  #users = new Map<string, UserAccount>();
  #tokens = new Map<string, TokenGrant>();
  #lifetimeMs: number;

  /**
   * @param options.users accounts that may log in (default none)
   * @param options.lifetimeSeconds token lifetime; 0 issues tokens that are
   *   expired at once (default 3600)
   */
  constructor(
    options: { users?: readonly UserAccount[]; lifetimeSeconds?: number } = {},
  ) {
    const lifetimeSeconds = options.lifetimeSeconds ?? 3600;
    if (!Number.isFinite(lifetimeSeconds) || lifetimeSeconds < 0) {
      throw new RangeError(
        `Token lifetime "${lifetimeSeconds}" is invalid; pass a number of ` +
          `seconds of 0 or more`,
      );
    }
    this.#lifetimeMs = lifetimeSeconds * 1000;
    for (const user of options.users ?? []) this.setUser(user);
  }

  /** Adds or replaces an account; user names are case-insensitive. */
  setUser(user: UserAccount): void {
    this.#users.set(user.username.toLowerCase(), { ...user });
  }

  /** Issues a token, or returns null when the credentials do not match. */
  login(username: string, password: string, now: number): LoginResult | null {
    const user = this.#users.get(username.toLowerCase());
    if (user === undefined || user.password !== password) return null;
    const token = randomToken();
    const expiresAt = now + this.#lifetimeMs;
    this.#tokens.set(token, { username: user.username, expiresAt });
    return {
      token,
      username: user.username,
      role: user.role,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  /**
   * Checks an `Authorization` header value.
   *
   * @returns "valid", "missing" (no bearer token) or "invalid" (unknown or
   *   expired token)
   */
  check(
    authorization: string | null,
    now: number,
  ): "valid" | "missing" | "invalid" {
    if (authorization === null) return "missing";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) return "missing";
    const grant = this.#tokens.get(match[1]);
    if (grant === undefined) return "invalid";
    if (now >= grant.expiresAt) {
      this.#tokens.delete(match[1]);
      return "invalid";
    }
    return "valid";
  }

  /** Invalidates every issued token, as a server restart with a new key. */
  revokeAll(): void {
    this.#tokens.clear();
  }
}
