/**
 * Reading the errors that dockerode raises for Docker engine API calls.
 *
 * @module
 */

interface DockerApiError {
  statusCode?: number;
  message?: string;
  json?: { message?: string };
}

/** Returns the HTTP status of a failed engine call, or undefined. */
export function apiStatusOf(error: unknown): number | undefined {
  return (error as DockerApiError | null)?.statusCode;
}

/** Returns the engine's message for a failed call, or the error's text. */
export function apiMessageOf(error: unknown): string {
  const api = error as DockerApiError | null;
  return api?.json?.message ?? api?.message ?? String(error);
}

/**
 * Runs an engine call and returns null when it fails with 404, which
 * means that the object is already gone.
 */
export async function ignoreNotFound<T>(
  call: () => Promise<T>,
): Promise<T | null> {
  try {
    return await call();
  } catch (error) {
    if (apiStatusOf(error) === 404) return null;
    throw error;
  }
}
