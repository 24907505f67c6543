/**
 * Helpers shared by the clients of the IAM API: reading a body within a
 * size limit, describing a failed fetch, and excerpts of bodies for error
 * messages.
 *
 * @module
 */

const EXCERPT_LENGTH = 200;

/** Returns the text on one line, cut to 200 characters, for a message. */
export function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > EXCERPT_LENGTH
    ? `${flat.slice(0, EXCERPT_LENGTH)}…`
    : flat;
}

/** Describes why a fetch failed, naming the Deno flag a missing permission needs. */
export function describeFetchError(error: unknown): string {
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return "timed out";
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `Deno permission missing (${error.message}); allow the API host ` +
      `with --allow-net`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads a body as text.
 *
 * @throws {RangeError} once the body passes `maxBytes`
 */
export async function readLimited(
  response: Response,
  maxBytes: number,
): Promise<string> {
  if (response.body === null) return "";
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > maxBytes) {
    await response.body.cancel();
    throw new RangeError(
      `body of ${declared} bytes is larger than the limit of ${maxBytes}`,
    );
  }
  if (Number.isFinite(declared)) {
    // The length is known and within the limit, and fetch fails a body that
    // runs past its Content-Length, so one read is enough.
    return await response.text();
  }
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  const reader = response.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new RangeError(
        `body is larger than the limit of ${maxBytes} bytes`,
      );
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
