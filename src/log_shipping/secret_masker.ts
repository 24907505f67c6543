/**
 * Masking of secret values in container output before it leaves the host.
 *
 * @module
 */
import type { Job } from "../iam_api/job.ts";

/** Text that replaces each secret value. */
export const MASK = "***";

/**
 * Default minimum length of a secret value in characters. Shorter values are
 * not masked, because replacing every "1" or "no" in the output would garble
 * it while hiding little: such a value is guessable anyway.
 */
export const DEFAULT_MIN_SECRET_LENGTH = 4;

/**
 * Parts of parameter names that mark a parameter as secret, matched
 * case-insensitively anywhere in the name.
 */
export const DEFAULT_SECRET_PATTERNS: readonly string[] = [
  "PASSWORD",
  "SECRET",
  "TOKEN",
  "KEY",
  "CREDENTIAL",
];

/** A secret value with the name that identifies it in warnings. */
export interface Secret {
  /** Parameter or field name, safe to log. */
  name: string;
  /** The value to mask; never log it. */
  value: string;
}

/** Options of {@linkcode SecretMasker}. */
export interface SecretMaskerOptions {
  /**
   * Minimum length of a value in UTF-16 code units. Shorter values are not
   * masked and their names are listed in {@linkcode SecretMasker.skipped}.
   *
   * @default {4}
   */
  minLength?: number;
}

/**
 * Replaces secret values in lines of output with {@linkcode MASK}.
 *
 * Each value is masked as written, as standard and URL-safe base64 of its
 * UTF-8 bytes (with and without "=" padding) and in the form
 * `encodeURIComponent` gives it. Base64 is matched only where it encodes the
 * value alone: a value inside a longer encoded text, such as a user and
 * password in an HTTP Basic header, shifts the encoding and is not found.
 *
 * The masker works on whole lines, after the line assembler, so a value that
 * the container wrote in two pieces that arrived in separate reads is masked.
 * A value that contains "\n" never appears whole in one line, so each of its
 * lines (without a trailing "\r") is masked as a value of its own when it has
 * the minimum length.
 *
 * All forms of all values go into one regular expression, built once, with
 * longer forms first so that a value is masked whole where a shorter value is
 * part of it.
 */
export class SecretMasker {
  #pattern: RegExp | null;
  #skipped: readonly string[];

  /**
   * @throws {RangeError} when `minLength` is not a positive integer
   */
  constructor(secrets: Iterable<Secret>, options: SecretMaskerOptions = {}) {
    const minLength = options.minLength ?? DEFAULT_MIN_SECRET_LENGTH;
    if (!Number.isInteger(minLength) || minLength < 1) {
      throw new RangeError(
        `Invalid minimum secret length "${minLength}": expected a positive ` +
          `integer`,
      );
    }
    const forms = new Set<string>();
    const skipped = new Set<string>();
    for (const secret of secrets) {
      if (secret.value === "") continue;
      if (secret.value.length < minLength) {
        skipped.add(secret.name);
        continue;
      }
      for (const form of encodedForms(secret.value)) forms.add(form);
      if (secret.value.includes("\n")) {
        for (const part of secret.value.split(/\r?\n/)) {
          if (part.length >= minLength) forms.add(part);
        }
      }
    }
    this.#skipped = [...skipped];
    this.#pattern = forms.size === 0 ? null : new RegExp(
      [...forms]
        .sort((a, b) => b.length - a.length)
        .map(escapeRegExp)
        .join("|"),
      "g",
    );
  }

  /** Names of the secrets too short to mask, each listed once. */
  get skipped(): readonly string[] {
    return this.#skipped;
  }

  /** Returns the text with every form of every secret replaced by `***`. */
  mask(text: string): string {
    if (this.#pattern === null) return text;
    return text.replace(this.#pattern, MASK);
  }
}

/**
 * Returns the names of the parameters that look secret: those whose name
 * contains one of {@linkcode DEFAULT_SECRET_PATTERNS} or of `extraPatterns`,
 * ignoring case.
 *
 * @throws {TypeError} when an extra pattern is empty, since it would match
 *   every name
 */
export function secretParameterNames(
  parameters: Readonly<Record<string, string>>,
  extraPatterns: readonly string[] = [],
): string[] {
  for (const pattern of extraPatterns) {
    if (pattern.trim() === "") {
      throw new TypeError(
        `Invalid secret parameter pattern "${pattern}": expected a non-empty ` +
          `part of a parameter name, so remove it from the list`,
      );
    }
  }
  const patterns = [...DEFAULT_SECRET_PATTERNS, ...extraPatterns].map((
    pattern,
  ) => pattern.trim().toLowerCase());
  return Object.keys(parameters).filter((name) => {
    const lower = name.toLowerCase();
    return patterns.some((pattern) => lower.includes(pattern));
  });
}

/**
 * Returns the secrets of a job: its registry password and the values of the
 * parameters that {@linkcode secretParameterNames} selects.
 */
export function jobSecrets(
  job: Pick<Job, "parameters" | "registryPassword">,
  extraPatterns: readonly string[] = [],
): Secret[] {
  const secrets: Secret[] = [];
  if (job.registryPassword !== null) {
    secrets.push({ name: "registryPassword", value: job.registryPassword });
  }
  for (const name of secretParameterNames(job.parameters, extraPatterns)) {
    secrets.push({ name, value: job.parameters[name] });
  }
  return secrets;
}

function encodedForms(value: string): string[] {
  const base64 = encodeBase64(new TextEncoder().encode(value));
  const unpadded = base64.replace(/=+$/, "");
  const urlSafe = base64.replaceAll("+", "-").replaceAll("/", "_");
  const urlSafeUnpadded = unpadded.replaceAll("+", "-").replaceAll("/", "_");
  return [
    value,
    base64,
    unpadded,
    urlSafe,
    urlSafeUnpadded,
    ...uriComponentForm(value),
  ];
}

/** Returns the URL-encoded form, or nothing for a lone UTF-16 surrogate. */
function uriComponentForm(value: string): string[] {
  try {
    return [encodeURIComponent(value)];
  } catch (error) {
    if (error instanceof URIError) return [];
    throw error;
  }
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}
