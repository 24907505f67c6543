/**
 * Response and request helpers shared by the reference API's handlers.
 *
 * @module
 */

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
const PROBLEM_HEADERS = {
  "content-type": "application/problem+json; charset=utf-8",
};

/** Returns a JSON response from text that is JSON already. */
export function jsonText(text: string, status = 200): Response {
  return new Response(text, { status, headers: JSON_HEADERS });
}

/** Returns a JSON response of a value. */
export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), { status, headers: JSON_HEADERS });
}

/** Returns a problem details response, as ASP.NET sends for errors. */
export function problem(status: number, title: string, detail?: string) {
  const body = detail === undefined
    ? { title, status }
    : { title, status, detail };
  return new Response(JSON.stringify(body), {
    status,
    headers: PROBLEM_HEADERS,
  });
}

/** Returns an empty response, as ASP.NET's `Ok()` and `NotFound()` send. */
export function empty(status: number, headers?: HeadersInit): Response {
  return new Response(null, { status, headers });
}

/** Returns true for `application/json`, `text/json` and `+json` types. */
export function isJsonContentType(value: string | null): boolean {
  if (value === null) return false;
  const type = value.split(";", 1)[0].trim().toLowerCase();
  return type === "application/json" || type === "text/json" ||
    (type.startsWith("application/") && type.endsWith("+json"));
}

/** The outcome of reading a JSON request body. */
export type BodyResult =
  | { ok: true; value: unknown }
  | { ok: false; response: Response };

/**
 * Reads a JSON body. Returns 415 without a JSON content type and 400 for
 * invalid JSON, as ASP.NET does for a `[FromBody]` parameter.
 */
export async function readJsonBody(request: Request): Promise<BodyResult> {
  if (!isJsonContentType(request.headers.get("content-type"))) {
    await request.body?.cancel();
    return {
      ok: false,
      response: problem(
        415,
        "Unsupported Media Type",
        "Send the body with content-type application/json",
      ),
    };
  }
  try {
    return { ok: true, value: await request.json() };
  } catch (error) {
    return {
      ok: false,
      response: problem(
        400,
        "Invalid JSON body",
        error instanceof Error ? error.message : String(error),
      ),
    };
  }
}

/** Returns true for a JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Returns a property by its camelCase name, falling back to a
 * case-insensitive match (PascalCase clients).
 */
export function readProperty(
  record: Record<string, unknown>,
  name: string,
): unknown {
  const value = record[name];
  if (value !== undefined) return value;
  const lower = name.toLowerCase();
  for (const key in record) {
    if (key.toLowerCase() === lower) return record[key];
  }
  return undefined;
}

/** Splits a request URL into its path and its query string (without `?`). */
export function splitUrl(url: string): { path: string; query: string } {
  // Request URLs from Deno.serve are absolute: skip "scheme://host".
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return { path: "/", query: "" };
  const mark = url.indexOf("?", start);
  if (mark === -1) return { path: url.slice(start), query: "" };
  return { path: url.slice(start, mark), query: url.slice(mark + 1) };
}

/** Returns a query parameter, matching its name case-insensitively. */
export function queryParameter(query: string, name: string): string | null {
  if (query === "") return null;
  const lower = name.toLowerCase();
  for (const [key, value] of new URLSearchParams(query)) {
    if (key.toLowerCase() === lower) return value;
  }
  return null;
}
