/**
 * Builds the daemon's parts from resolved settings and runs it: boot, run,
 * shutdown as visible steps.
 *
 * @module
 */
import type { Settings } from "../config/settings.ts";
import { JobRunner, type JobRunResult } from "../execution/job_runner.ts";
import { IamApiClient } from "../iam_api/iam_api_client.ts";
import type { Job } from "../iam_api/job.ts";
import { daemonLogger } from "../logging/setup_logging.ts";
import { DockerBackend } from "../runtime/docker_backend.ts";
import type { ExecutionBackend } from "../runtime/execution_backend.ts";
import { StateStore } from "../state/state_store.ts";
import { ApiReporter } from "./api_reporter.ts";
import { Daemon } from "./daemon.ts";

export interface StartDaemonOptions {
  version: string;
  /** Replaces the Docker backend, as tests of other backends do. */
  backend?: ExecutionBackend;
  onJobFinished?: (job: Job, result: JobRunResult) => void;
}

/** A running daemon. */
export interface RunningDaemon {
  readonly daemon: Daemon;
  readonly orchestratorId: string;
  /**
   * Stops polling, lets running jobs finish within the shutdown grace
   * period, and closes the state store.
   */
  shutdown(): Promise<void>;
  /** Resolves when polling has ended. */
  readonly polling: Promise<void>;
}

/** Boots the daemon and starts polling. */
export async function startDaemon(
  settings: Settings,
  options: StartDaemonOptions,
): Promise<RunningDaemon> {
  const logger = daemonLogger("daemon");
  const store = StateStore.open(settings.orchestrator.stateDirectory, {
    orchestratorId: settings.orchestrator.orchestratorId ?? undefined,
  });
  const orchestratorId = store.orchestratorId();
  const backend = options.backend ??
    new DockerBackend(settings.container.dockerEndpoint);
  const api = new IamApiClient({
    baseUrl: settings.api.baseUrl,
    requestTimeoutMs: settings.api.requestTimeoutSeconds * 1000,
  });
  const shutdownController = new AbortController();
  const reporter = new ApiReporter(api, daemonLogger("api"), {
    signal: shutdownController.signal,
  });
  const runner = new JobRunner({
    backend,
    reporter,
    settings,
    orchestratorId,
    logger: daemonLogger("job"),
  });
  const daemon = new Daemon({
    settings,
    api,
    backend,
    runner,
    finishedJobs: store,
    orchestratorId,
    version: options.version,
    logger,
    onJobFinished: options.onJobFinished,
  });

  logger.info(
    "iam-orchestrator {version} starting: orchestrator {orchestratorId}, " +
      "customer {customer}, API {apiUrl}, engine {engineEndpoint}, " +
      "polling every {pollingIntervalSeconds} s, " +
      "up to {maxConcurrentJobs} jobs at once",
    {
      version: options.version,
      orchestratorId,
      customer: settings.customer.customerName ?? "(all customers)",
      apiUrl: settings.api.baseUrl,
      engineEndpoint: settings.container.dockerEndpoint.text,
      pollingIntervalSeconds: settings.api.pollingIntervalSeconds,
      maxConcurrentJobs: settings.container.maxConcurrentJobs,
    },
  );

  const polling = daemon.run();
  let shutdownPromise: Promise<void> | null = null;
  const shutdown = () => {
    shutdownPromise ??= (async () => {
      daemon.stop();
      await polling;
      const graceMs = settings.orchestrator.shutdownGraceSeconds * 1000;
      const left = await daemon.drain(graceMs);
      if (left.length > 0) {
        logger.warn(
          "Shutting down with {count} jobs still running: {jobIds}",
          { count: left.length, jobIds: left.join(", ") },
        );
      }
      shutdownController.abort();
      store.close();
      logger.info("iam-orchestrator stopped");
    })();
    return shutdownPromise;
  };
  return { daemon, orchestratorId, shutdown, polling };
}
