/**
 * Builds the daemon's parts from resolved settings and runs it: boot, run,
 * shutdown as visible steps.
 *
 * @module
 */
import type { Settings } from "../config/settings.ts";
import {
  JobRunner,
  type JobRunResult,
  type RunTracker,
} from "../execution/job_runner.ts";
import { IamApiClient } from "../iam_api/iam_api_client.ts";
import type { Job } from "../iam_api/job.ts";
import { daemonLogger } from "../logging/setup_logging.ts";
import { DockerBackend } from "../runtime/docker_backend.ts";
import type { ExecutionBackend } from "../runtime/execution_backend.ts";
import { Scheduler } from "../scheduling/scheduler.ts";
import { StateStore } from "../state/state_store.ts";
import { lockStateDirectory, type StateLock } from "../state/state_lock.ts";
import { DaemonMetrics } from "../operations/metrics.ts";
import {
  Readiness,
  readinessWindowMs,
  startEngineChecks,
} from "../operations/readiness.ts";
import {
  startStatusServer,
  type StatusServer,
} from "../operations/status_server.ts";
import {
  fetchCustomerCertificate,
  removeStaleCertificateDirectories,
} from "../execution/customer_certificate.ts";
import { ApiAuth, loadApiCredentials } from "../iam_api/api_auth.ts";
import {
  createApiFetch,
  insecureTransportWarning,
} from "../iam_api/api_transport.ts";
import {
  describeHardening,
  memoryLimitBytes,
} from "../runtime/container_hardening.ts";
import { Daemon } from "./daemon.ts";
import { DurableReporter } from "./durable_reporter.ts";

export interface StartDaemonOptions {
  version: string;
  /** Replaces the Docker backend, as tests of other backends do. */
  backend?: ExecutionBackend;
  onJobFinished?: (job: Job, result: JobRunResult) => void;
  /** Backoff of outbox delivery in ms, for tests. */
  outboxBackoff?: { baseDelayMs: number; maxDelayMs: number };
}

/** A running daemon. */
export interface RunningDaemon {
  readonly daemon: Daemon;
  readonly orchestratorId: string;
  readonly store: StateStore;
  readonly metrics: DaemonMetrics;
  /** The status server, or null when `StatusPort` is not set. */
  readonly statusServer: StatusServer | null;
  /**
   * Stops polling, lets running jobs finish within the shutdown grace
   * period, sends what the outbox holds, and closes the state store.
   */
  shutdown(): Promise<void>;
  /** Resolves when polling has ended. */
  readonly polling: Promise<void>;
}

/** Serializes the job for recovery, without its registry credentials. */
function recoverableJson(job: Job): string {
  return JSON.stringify({
    ...job,
    registryUsername: null,
    registryPassword: null,
  });
}

/** Records each run in the state store so a restart can take it over. */
function storeTracker(store: StateStore): RunTracker {
  return {
    preparing(job) {
      store.recordRunning({
        jobId: job.id,
        containerId: "",
        startedAt: new Date(),
        jobJson: recoverableJson(job),
      });
    },
    started(job, runId) {
      const record = store.runningJobs().find((r) => r.jobId === job.id);
      store.recordRunning({
        jobId: job.id,
        containerId: runId,
        startedAt: record?.startedAt ?? new Date(),
        jobJson: record?.jobJson ?? recoverableJson(job),
      });
    },
    finished(job, status) {
      store.recordFinished(job.id, { status, finishedAt: new Date() });
      store.removeRunning(job.id);
    },
  };
}

/**
 * Builds the execution backend that `ContainerSettings:Backend` names. The
 * Swarm backend is loaded only when named, since it brings dockerode.
 */
async function createBackend(settings: Settings): Promise<ExecutionBackend> {
  const { container } = settings;
  if (container.backend === "Docker") {
    return new DockerBackend(container.dockerEndpoint, {
      hardening: container.hardening,
    });
  }
  const memory = memoryLimitBytes(container.hardening);
  const { SwarmBackend } = await import("../runtime/swarm_backend.ts");
  return new SwarmBackend(container.dockerEndpoint, {
    placement: container.placement,
    stopGraceSeconds: container.stopGraceSeconds,
    resources: {
      memoryBytes: memory ?? undefined,
      nanoCpus: container.hardening.cpuLimit === 0
        ? undefined
        : Math.round(container.hardening.cpuLimit * 1e9),
      pidsLimit: container.hardening.pidsLimit === 0
        ? undefined
        : container.hardening.pidsLimit,
    },
  });
}

/** Boots the daemon and starts polling. */
export async function startDaemon(
  settings: Settings,
  options: StartDaemonOptions,
): Promise<RunningDaemon> {
  const logger = daemonLogger("daemon");
  const credentials = await loadApiCredentials(settings.api.auth);
  const insecure = insecureTransportWarning(settings.api.baseUrl);
  if (insecure !== null) logger.warn(insecure);
  const transport = settings.api.caCertFile === ""
    ? null
    : await createApiFetch(settings.api.caCertFile);
  const auth = new ApiAuth(credentials, {
    baseUrl: settings.api.baseUrl,
    fetch: transport?.fetch,
    requestTimeoutMs: settings.api.requestTimeoutSeconds * 1000,
    logger: daemonLogger("api-auth"),
  });
  const store = StateStore.open(settings.orchestrator.stateDirectory, {
    orchestratorId: settings.orchestrator.orchestratorId ?? undefined,
  });
  let stateLock: StateLock;
  try {
    stateLock = lockStateDirectory(settings.orchestrator.stateDirectory);
  } catch (error) {
    store.close();
    throw error;
  }
  const orchestratorId = store.orchestratorId();
  const certificateDirectory =
    `${settings.orchestrator.stateDirectory}/certificates`;
  await Deno.mkdir(certificateDirectory, { recursive: true, mode: 0o700 });
  await removeStaleCertificateDirectories(certificateDirectory);
  const backend = options.backend ?? await createBackend(settings);
  logger.debug(describeHardening(settings.container.hardening));
  const metrics = new DaemonMetrics({
    version: options.version,
    gauges: {
      runningJobs: () => daemon.runningJobIds.length,
      registeredSchedules: () => scheduler?.size ?? 0,
      outboxDepth: () => store.outboxDepth(),
    },
  });
  const readiness = new Readiness(
    readinessWindowMs(settings.api.pollingIntervalSeconds),
  );
  const api = new IamApiClient({
    baseUrl: settings.api.baseUrl,
    requestTimeoutMs: settings.api.requestTimeoutSeconds * 1000,
    onResponse: (endpoint, status) => metrics.apiResponse(endpoint, status),
    fetch: auth.fetch,
  });
  const reporter = new DurableReporter(store, api, daemonLogger("outbox"), {
    ...options.outboxBackoff,
    onRetry: (item) =>
      metrics.apiRetry(
        item.kind === "log" ? "POST /api/logs" : "PATCH /api/jobs/{id}/status",
      ),
  });
  const runner = new JobRunner({
    backend,
    reporter,
    settings,
    orchestratorId,
    logger: daemonLogger("job"),
    tracker: storeTracker(store),
    daemonSecrets: () => auth.secrets,
    refreshCredentials: (jobId) => api.refreshCredentials(jobId),
    certificates: settings.certificate.enabled === "false" ? undefined : {
      fetch: (customer) =>
        fetchCustomerCertificate(customer, {
          baseUrl: settings.api.baseUrl,
          fetch: auth.fetch,
          requestTimeoutMs: settings.api.requestTimeoutSeconds * 1000,
        }),
      directory: certificateDirectory,
      warnDays: settings.certificate.warnDays,
    },
  });

  const scheduler = settings.schedule.mode === "Orchestrator"
    ? new Scheduler({
      fetchJob: (id) => api.getJob(id),
      dispatch: (job, fireTime) => daemon.dispatch(job, fireTime),
      isRunning: (jobId) => daemon.isRunning(jobId),
      failJob: async (jobId, reason) => {
        await reporter.sendLog({
          jobId,
          message: reason,
          level: "Error",
          source: "orchestrator",
        });
        await reporter.reportStatus(jobId, "Failed");
      },
      store,
      timeZone: settings.schedule.timeZone,
      overlapPolicy: settings.schedule.overlapPolicy,
      catchUpWindowSeconds: settings.schedule.catchUpWindowSeconds,
      logger: daemonLogger("scheduling"),
      onSkip: (_jobId, reason) => metrics.fireSkipped(reason),
    })
    : undefined;
  const daemon: Daemon = new Daemon({
    settings,
    api,
    backend,
    runner,
    store,
    orchestratorId,
    version: options.version,
    logger,
    scheduler,
    onJobStarted: (job) => metrics.jobStarted(job.customer),
    onJobFinished: (job, result) => {
      metrics.jobFinished(
        job.customer,
        result.status,
        result.durationSeconds,
      );
      if (result.shipping !== null) {
        metrics.logShipped(
          result.shipping.linesShipped,
          result.shipping.bytesShipped,
        );
        metrics.logDropped(
          result.shipping.linesDropped,
          result.shipping.bytesDropped,
        );
      }
      options.onJobFinished?.(job, result);
    },
    onPoll: (succeeded, error) => {
      if (succeeded) readiness.pollSucceeded();
      else readiness.pollFailed(`Polling the IAM API failed: ${error}`);
    },
    engineAvailable: () => readiness.engineAvailable,
    onEngineCheck: (succeeded, error) => {
      if (succeeded) readiness.engineSucceeded();
      else readiness.engineFailed(error ?? "the engine did not answer");
    },
  });

  logger.info(
    "iam-orchestrator {version} starting: orchestrator {orchestratorId}, " +
      "customer {customer}, API {apiUrl}, engine {engineEndpoint}, " +
      "polling every {pollingIntervalSeconds} s, " +
      "up to {maxConcurrentJobs} jobs at once, schedules fired by {scheduleMode}",
    {
      version: options.version,
      orchestratorId,
      customer: settings.customer.customerName ?? "(all customers)",
      apiUrl: settings.api.baseUrl,
      engineEndpoint: settings.container.dockerEndpoint.text,
      pollingIntervalSeconds: settings.api.pollingIntervalSeconds,
      maxConcurrentJobs: settings.container.maxConcurrentJobs,
      scheduleMode: settings.schedule.mode === "Orchestrator"
        ? "the orchestrator"
        : "the server",
    },
  );

  const statusServer = settings.orchestrator.statusPort === null
    ? null
    : await startStatusServer({
      hostname: settings.orchestrator.statusHost,
      port: settings.orchestrator.statusPort,
      metrics,
      readiness,
    });
  if (statusServer !== null) {
    logger.info("Status server on {url} (/healthz, /readyz, /metrics)", {
      url: statusServer.url,
    });
  }
  const stopEngineChecks = startEngineChecks(backend, readiness, {
    intervalMs: Math.max(settings.api.pollingIntervalSeconds * 1000, 1000),
    onFailure: () => metrics.engineError(),
  });

  reporter.start();
  const polling = daemon.run();
  let shutdownPromise: Promise<void> | null = null;
  const shutdown = () => {
    shutdownPromise ??= (async () => {
      readiness.shuttingDown();
      daemon.stop();
      // A failed polling loop was already reported by the command that awaited it.
      await polling.catch(() => undefined);
      const graceMs = settings.orchestrator.shutdownGraceSeconds * 1000;
      await daemon.shutdown(graceMs);
      // What the API has not accepted stays in the store for the next start.
      const flushed = await reporter.flush(Math.max(graceMs, 1000));
      if (!flushed) {
        logger.warn(
          "{count} log entries and status changes wait in the outbox for the next start",
          { count: reporter.depth },
        );
      }
      await reporter.stop();
      await stopEngineChecks();
      await statusServer?.close();
      auth.close();
      transport?.close();
      store.close();
      stateLock.release();
      logger.info("iam-orchestrator stopped");
    })();
    return shutdownPromise;
  };
  return {
    daemon,
    orchestratorId,
    store,
    metrics,
    statusServer,
    shutdown,
    polling,
  };
}
