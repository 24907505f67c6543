/**
 * Request helpers for the reference API tests. Every helper reads the whole
 * body, so that no test leaks a response stream.
 *
 * @module
 */

/** A response with its body read as text. */
export interface TextResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** Options of {@linkcode send}. */
export interface SendOptions {
  /** JSON body; sent with content type application/json. */
  body?: unknown;
  /** Body sent as is, e.g. invalid JSON. */
  rawBody?: string;
  /** Content type header. @default "application/json" when a body is set */
  contentType?: string;
  /** Bearer token. */
  token?: string;
  /** Follow redirects. @default {false} */
  follow?: boolean;
}

/** Sends a request and reads the response body. */
export async function send(
  url: string,
  method: string,
  options: SendOptions = {},
): Promise<TextResponse> {
  const headers = new Headers();
  let body: string | undefined;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (options.rawBody !== undefined) body = options.rawBody;
  if (body !== undefined) {
    headers.set("content-type", options.contentType ?? "application/json");
  } else if (options.contentType !== undefined) {
    headers.set("content-type", options.contentType);
  }
  if (options.token !== undefined) {
    headers.set("authorization", `Bearer ${options.token}`);
  }
  const response = await fetch(url, {
    method,
    headers,
    body,
    redirect: options.follow === true ? "follow" : "manual",
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text };
}

/** Sends a request and parses the JSON body. */
export async function sendJson(
  url: string,
  method: string,
  options: SendOptions = {},
): Promise<{ status: number; value: unknown }> {
  const response = await send(url, method, options);
  return { status: response.status, value: JSON.parse(response.text) };
}

/** Logs in and returns the token; throws when the login fails. */
export async function login(
  baseUrl: string,
  username = "orchestrator",
  password = "secret-password",
): Promise<string> {
  const { status, value } = await sendJson(
    `${baseUrl}/api/auth/login`,
    "POST",
    {
      body: { username, password },
    },
  );
  if (status !== 200) throw new Error(`Login answered ${status}`);
  return (value as { token: string }).token;
}
