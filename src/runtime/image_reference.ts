/**
 * Docker image references, parsed as the engine reads them: the registry is
 * the first path component when it contains a dot or a colon or is
 * `localhost`; the tag follows the last colon of the last component; a
 * digest follows `@`.
 *
 * @module
 */

/** A parsed image reference. */
export interface ImageReference {
  /** Registry host with its port, or null for the default registry. */
  registry: string | null;
  /** Repository path, such as `library/busybox` or `team/tools/pwsh`. */
  repository: string;
  /** Tag, or null when the reference has only a digest or neither. */
  tag: string | null;
  /** Digest such as `sha256:…`, or null. */
  digest: string | null;
  /** The reference as given, trimmed. */
  text: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const REGISTRY =
  /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

function looksLikeRegistry(component: string): boolean {
  return component.includes(".") || component.includes(":") ||
    component === "localhost";
}

/**
 * Parses an image reference such as `repo`, `repo:tag`,
 * `host:5000/team/repo:tag` or `repo@sha256:…`.
 *
 * @throws {TypeError} naming the reference and the part at fault
 */
export function parseImageReference(text: string): ImageReference {
  const reference = text.trim();
  const invalid = (why: string) =>
    new TypeError(`Invalid image reference "${text}": ${why}`);
  if (reference === "") throw invalid("it is empty");
  if (reference.length > 4096) {
    throw invalid("it is longer than 4096 characters");
  }

  let rest = reference;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw invalid(`digest "${digest}" is not algorithm:hex`);
    }
  }

  const components = rest.split("/");
  let registry: string | null = null;
  if (components.length > 1 && looksLikeRegistry(components[0])) {
    registry = components.shift()!;
    if (!REGISTRY.test(registry)) {
      throw invalid(`registry "${registry}" is not host or host:port`);
    }
  }

  let tag: string | null = null;
  const last = components[components.length - 1];
  const colon = last.lastIndexOf(":");
  if (colon !== -1) {
    tag = last.slice(colon + 1);
    components[components.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(
        `tag "${tag}" may hold only letters, digits, _ . and -, ` +
          `up to 128 characters`,
      );
    }
  }

  for (const component of components) {
    if (!COMPONENT.test(component)) {
      throw invalid(
        `path component "${component}" must be lowercase letters and ` +
          `digits, separated by . _ __ or -`,
      );
    }
  }
  return {
    registry,
    repository: components.join("/"),
    tag,
    digest,
    text: reference,
  };
}

/** Formats a reference for the engine, with `latest` when no tag or digest. */
export function formatImageReference(image: ImageReference): string {
  const name = image.registry === null
    ? image.repository
    : `${image.registry}/${image.repository}`;
  if (image.digest !== null) {
    return image.tag === null
      ? `${name}@${image.digest}`
      : `${name}:${image.tag}@${image.digest}`;
  }
  return `${name}:${image.tag ?? "latest"}`;
}

/**
 * Names the registry server in front of a reference that names none, as a job's `registryServer` requests.
 */
export function withRegistry(
  image: ImageReference,
  registryServer: string,
): ImageReference {
  if (image.registry !== null) return image;
  const server = registryServer.replace(/^https?:\/\//, "").replace(
    /\/+$/,
    "",
  );
  return { ...image, registry: server };
}
