/**
 * The environment a job's container receives, with the names and formats
 * of the previous .NET orchestrator, whose scripts test these values.
 *
 * @module
 */
import type { Job } from "../iam_api/job.ts";

/** The path of a customer certificate inside the container. */
export const CLIENT_CERT_CONTAINER_PATH = "/tmp/client-cert.pfx";

/** A job's environment, or why it cannot be built. */
export type JobEnvironment =
  | { ok: true; env: string[]; warnings: string[] }
  | { ok: false; reason: string };

export interface JobEnvironmentOptions {
  /** Password of the customer certificate mounted into the container. */
  certificatePassword?: string | null;
}

/**
 * Tells whether a name cannot be an environment variable: `=` ends the
 * name, NUL ends the string, and white space or control characters cannot
 * be passed through the engine reliably.
 */
function isInvalidName(name: string): boolean {
  if (name === "" || /[=\s]/.test(name)) return true;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Builds `KEY=value` pairs: `JOB_ID`, `JOB_NAME`, `CUSTOMER`, `SCRIPT_PATH`,
 * `WHAT_IF` (`True` or `False`, as .NET formats a bool), then every
 * parameter, and the certificate variables when a certificate is mounted.
 * Reserved names win over a parameter of the same name, with a warning.
 */
export function buildJobEnvironment(
  job: Job,
  options: JobEnvironmentOptions = {},
): JobEnvironment {
  const reserved = new Map<string, string>([
    ["JOB_ID", job.id],
    ["JOB_NAME", job.name],
    ["CUSTOMER", job.customer],
    ["SCRIPT_PATH", job.scriptPath],
    ["WHAT_IF", job.isWhatIf ? "True" : "False"],
  ]);
  const certificatePassword = options.certificatePassword;
  if (certificatePassword !== undefined && certificatePassword !== null) {
    reserved.set("CLIENT_CERT_PATH", CLIENT_CERT_CONTAINER_PATH);
    reserved.set("CLIENT_CERT_PASSWORD", certificatePassword);
  }

  const warnings: string[] = [];
  const env: string[] = [];
  for (const [name, value] of Object.entries(job.parameters)) {
    if (isInvalidName(name)) {
      return {
        ok: false,
        reason: `Parameter name ${JSON.stringify(name)} cannot be an ` +
          `environment variable: it must be non-empty and hold no "=", ` +
          `white space or control characters; rename it in the job`,
      };
    }
    if (value.includes("\u0000")) {
      return {
        ok: false,
        reason: `Parameter ${name} contains a NUL character, which an ` +
          `environment variable cannot hold; remove it from the value`,
      };
    }
    if (reserved.has(name)) {
      warnings.push(
        `Parameter ${name} is ignored: the orchestrator sets ${name} itself`,
      );
      continue;
    }
    env.push(`${name}=${value}`);
  }
  for (const [name, value] of reserved) env.push(`${name}=${value}`);
  return { ok: true, env, warnings };
}
