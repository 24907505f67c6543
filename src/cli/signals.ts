/**
 * Graceful shutdown on SIGINT and SIGTERM. Under Deno a signal listener
 * replaces the default exit, so the daemon exits by itself after cleanup; a
 * second signal exits at once.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";

/** Exit code after a second signal cut the shutdown short. */
export const FORCED_EXIT_CODE = 130;

/** Calls `shutdown` on the first signal; exits on the second. */
export function installSignalHandlers(
  shutdown: () => Promise<void>,
  logger: Logger,
): { dispose(): void } {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  let received = false;
  const handler = (signal: Deno.Signal) => () => {
    if (received) {
      logger.warn("Second {signal}: exiting without waiting for jobs", {
        signal,
      });
      Deno.exit(FORCED_EXIT_CODE);
    }
    received = true;
    logger.info("{signal} received: shutting down gracefully", { signal });
    shutdown().catch((error) => {
      logger.error("Shutdown failed: {error}", {
        error: (error as Error).message,
      });
    });
  };
  const installed = signals.map((signal) => {
    const listener = handler(signal);
    Deno.addSignalListener(signal, listener);
    return { signal, listener };
  });
  return {
    dispose() {
      for (const { signal, listener } of installed) {
        Deno.removeSignalListener(signal, listener);
      }
    },
  };
}
