/**
 * Runs one job from start to final status: Running, pull, create, start,
 * stream output, wait with the timeout, read output to its end, Completed
 * or Failed, remove. Also takes over a container that an earlier process
 * of the daemon started.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Settings } from "../config/settings.ts";
import type { Job, JobStatus, LogEntry, LogLevel } from "../iam_api/job.ts";
import { backoffDelay, sleep } from "../iam_api/retry.ts";
import {
  LogShipper,
  type LogShipperStats,
} from "../log_shipping/log_shipper.ts";
import { createOutputPipeline } from "../log_shipping/output_pipeline.ts";
import { jobSecrets, SecretMasker } from "../log_shipping/secret_masker.ts";
import {
  type ExecutionBackend,
  type ExitResult,
  ImageError,
  type RegistryAuth,
  type RunHandle,
} from "../runtime/execution_backend.ts";
import {
  formatImageReference,
  type ImageReference,
  parseImageReference,
  withRegistry,
} from "../runtime/image_reference.ts";
import {
  memoryKillMessage,
  memoryLimitBytes,
} from "../runtime/container_hardening.ts";
import {
  certificateExpiryWarning,
  type CertificateFile,
  type CustomerCertificate,
  writeCertificateFile,
} from "./customer_certificate.ts";
import {
  buildJobEnvironment,
  CLIENT_CERT_CONTAINER_PATH,
} from "./job_environment.ts";
import { jobLabels } from "./job_labels.ts";
import { type LineCounts, LineSkipper } from "./line_skipper.ts";

/** The calls a job run makes to the IAM API. */
export interface JobReporter {
  /** Sets the job's status; the implementation retries as needed. */
  reportStatus(jobId: string, status: JobStatus): Promise<void>;
  /** Sends one log entry; throws when the API did not accept it. */
  sendLog(entry: LogEntry): Promise<void>;
}

/** Hooks that record a run's progress, so a restart can take it over. */
export interface RunTracker {
  /** Called before anything is started for the job. */
  preparing(job: Job): void;
  /** Called once the job's container runs. */
  started(job: Job, runId: string): void;
  /** Called after the final status was handed to the reporter. */
  finished(job: Job, status: "Completed" | "Failed"): void;
}

/** The outcome of a run. */
export interface JobRunResult {
  /** `Detached`: the daemon stopped following a container that still runs. */
  status: "Completed" | "Failed" | "Detached";
  exitCode: number | null;
  /** The reason the job failed, or null. */
  reason: string | null;
  containerId: string | null;
  /** True when the job's timeout stopped the container. */
  timedOut: boolean;
  /** Seconds from the start of the run to its final status. */
  durationSeconds: number;
  /** Counts of what the log shipper sent and left out. */
  shipping: LogShipperStats | null;
}

/** The source and the host directory of customers' certificates. */
export interface CertificateSource {
  /** Fetches the customer's certificate; null when it has none. */
  fetch(customer: string): Promise<CustomerCertificate | null>;
  /** Parent of the private per-job directories the file is written to. */
  directory: string;
  /** Days before expiry from which a warning is logged. */
  warnDays: number;
}

export interface JobRunnerOptions {
  backend: ExecutionBackend;
  reporter: JobReporter;
  settings: Settings;
  orchestratorId: string;
  logger: Logger;
  tracker?: RunTracker;
  /** Secrets of the daemon itself, such as the API password, masked too. */
  daemonSecrets?: () => string[];
  /** Customer certificates, when the API serves them. */
  certificates?: CertificateSource;
  /** Asks the API for new registry credentials after a rejected pull. */
  refreshCredentials?: (jobId: string) => Promise<Job>;
}

export interface RunJobOptions {
  /** The scheduled fire time this run belongs to. */
  fireTime?: Date;
  /** Aborted to stop the container and fail the job (shutdown, Stop mode). */
  stopSignal?: AbortSignal;
  /**
   * Aborted to stop following the container and leave it running for the
   * next start of the daemon (shutdown, Detach mode).
   */
  detachSignal?: AbortSignal;
}

/** A container of an earlier daemon process, to be followed to its end. */
export interface Adoption {
  containerId: string;
  /** Output lines already delivered, which are not sent again. */
  delivered: LineCounts;
  /**
   * When the earlier process began the run. The job's duration and its
   * timeout count from then; from the adoption when unknown.
   */
  startedAt?: Date;
}

/**
 * Time the output stream may stay silent after the exit before it is
 * closed. A stream that still delivers output is read to its end.
 */
const OUTPUT_DRAIN_MS = 5_000;
/** Shortest time between two pull progress messages in the job's log. */
const PULL_PROGRESS_INTERVAL_MS = 2_000;
/** Maximum wait between checks for an engine that went away, in ms. */
const ENGINE_RECONNECT_CAP_MS = 10_000;
/**
 * Attempts to remove a finished job's container. With waits of 1, 2, 4, 8
 * and 16 s in between, they span about 30 s, which covers an engine
 * restart. A container still left is removed at the daemon's next start.
 */
const REMOVE_ATTEMPTS = 6;

/**
 * Removes a finished run's container, trying again while the engine does
 * not respond, such as during its restart.
 */
export async function removeRun(
  run: Pick<RunHandle, "id" | "remove">,
  logger: {
    warn(message: string, properties: Record<string, unknown>): void;
  },
  options: {
    /** First wait between attempts, doubled after each; 1000 ms by default. */
    retryBaseMs?: number;
  } = {},
): Promise<void> {
  const retryBaseMs = options.retryBaseMs ?? 1000;
  for (let attempt = 0; attempt < REMOVE_ATTEMPTS; attempt++) {
    try {
      await run.remove();
      return;
    } catch (error) {
      const last = attempt === REMOVE_ATTEMPTS - 1;
      logger.warn(
        last
          ? "Removing container {containerId} failed: {error}; the next " +
            "start of the orchestrator removes it"
          : "Removing container {containerId} failed, trying again: {error}",
        { containerId: run.id, error: (error as Error).message },
      );
      if (!last) await sleep(retryBaseMs * 2 ** attempt);
    }
  }
}

class JobFailure extends Error {}

type Note = (message: string, level?: LogLevel) => void;

/** One job's run: its shipper, masker and log helpers. */
interface RunContext {
  job: Job;
  shipper: LogShipper;
  /** Replaced when new secrets arrive, before any output is read. */
  masker: SecretMasker;
  /** Secrets besides the job's and the daemon's, such as the certificate password. */
  extraSecrets: string[];
  note: Note;
  logger: Logger;
  started: number;
  /** The customer certificate's file, removed when the run ends. */
  certificate: CertificateFile | null;
}

/** Runs jobs in containers; one instance serves every job of the daemon. */
export class JobRunner {
  readonly #options: JobRunnerOptions;

  constructor(options: JobRunnerOptions) {
    this.#options = options;
  }

  /** Runs one job to its final status. Never throws for a job's own failure. */
  async run(job: Job, options: RunJobOptions = {}): Promise<JobRunResult> {
    const fetched = await this.#fetchCertificate(job);
    const context = this.#context(
      job,
      fetched.certificate === null ? [] : [fetched.certificate.password],
    );
    const { note } = context;
    this.#options.tracker?.preparing(job);
    await this.#options.reporter.reportStatus(job.id, "Running");
    const fire = options.fireTime === undefined
      ? ""
      : ` for the scheduled time ${options.fireTime.toISOString()}`;
    note(
      `Job ${job.name} (${job.id}) started${fire} on orchestrator ` +
        `${this.#options.orchestratorId}`,
    );

    let run: RunHandle | null = null;
    let result: JobRunResult;
    try {
      if (fetched.error !== null) throw new JobFailure(fetched.error);
      const image = this.#resolveImage(job);
      note(`Image: ${formatImageReference(image)}`);
      await this.#ensureImage(job, image, context);
      const certificate = await this.#writeCertificate(
        fetched.certificate,
        context,
      );
      const environment = buildJobEnvironment(job, {
        certificatePassword: certificate?.password ?? null,
      });
      if (!environment.ok) throw new JobFailure(environment.reason);
      for (const warning of environment.warnings) note(warning, "Warning");

      run = await this.#options.backend.start({
        name: `iam-job-${job.id.slice(0, 8)}-${
          crypto.randomUUID().slice(0, 8)
        }`,
        image: formatImageReference(image),
        env: environment.env,
        labels: jobLabels(job, this.#options.orchestratorId),
        readOnlyMounts: certificate === null ? [] : [{
          hostPath: certificate.hostPath,
          containerPath: CLIENT_CERT_CONTAINER_PATH,
        }],
      });
      this.#options.tracker?.started(job, run.id);
      note(`Container ${run.id.slice(0, 12)} started`);
      result = await this.#follow(run, context, options, {
        stdout: 0,
        stderr: 0,
      });
    } catch (error) {
      const reason = error instanceof JobFailure || error instanceof ImageError
        ? error.message
        : `Job failed before its container ran: ${(error as Error).message}`;
      note(reason, "Error");
      result = {
        ...failed(reason),
        containerId: run?.id ?? null,
      };
    }
    return await this.#finish(run, context, result);
  }

  /**
   * Follows a container that an earlier process of the daemon started: its
   * output from where delivery stopped, then its final status.
   */
  async adopt(
    job: Job,
    adoption: Adoption,
    options: RunJobOptions = {},
  ): Promise<JobRunResult> {
    const context = this.#context(job);
    const elapsedMs = adoption.startedAt === undefined
      ? 0
      : Math.max(0, Date.now() - adoption.startedAt.getTime());
    context.started -= elapsedMs;
    const run = this.#options.backend.attach(adoption.containerId);
    context.note(
      `Orchestrator ${this.#options.orchestratorId} restarted and resumes ` +
        `container ${adoption.containerId.slice(0, 12)}`,
    );
    let result: JobRunResult;
    try {
      result = await this.#follow(run, context, options, adoption.delivered, {
        elapsedMs,
      });
    } catch (error) {
      const reason = `Resuming container ${
        adoption.containerId.slice(0, 12)
      } failed: ${(error as Error).message}`;
      context.note(reason, "Error");
      result = { ...failed(reason), containerId: adoption.containerId };
    }
    return await this.#finish(run, context, result);
  }

  /**
   * Fails a job whose run cannot go on or be resumed, such as one whose
   * container never started before a restart.
   */
  async abandon(job: Job, reason: string): Promise<JobRunResult> {
    const context = this.#context(job);
    context.note(reason, "Error");
    return await this.#finish(null, context, failed(reason));
  }

  #context(job: Job, extraSecrets: string[] = []): RunContext {
    const { reporter, settings } = this.#options;
    const logger = this.#options.logger.with({
      jobId: job.id,
      jobName: job.name,
      customer: job.customer,
    });
    const masker = this.#masker(job, extraSecrets);
    const shipper = new LogShipper(job.id, {
      send: (entry: LogEntry) => reporter.sendLog(entry),
    }, {
      maxEntryBytes: settings.log.maxEntryBytes,
      flushIntervalMs: settings.log.flushIntervalMs,
      maxJobLogBytes: settings.log.maxJobLogBytes,
      spoolDirectory: settings.orchestrator.stateDirectory,
    });
    const note: Note = (message, level = "Info") => {
      const masked = context.masker.mask(message);
      shipper.appendOrchestrator(masked, level);
      if (level === "Error") logger.error(masked);
      else if (level === "Warning") logger.warn(masked);
      else logger.info(masked);
    };
    const context: RunContext = {
      job,
      shipper,
      masker,
      extraSecrets,
      note,
      logger,
      started: performance.now(),
      certificate: null,
    };
    if (masker.skipped.length > 0) {
      note(
        `Not masking ${masker.skipped.join(", ")}: shorter than the ` +
          `minimum secret length`,
        "Warning",
      );
    }
    return context;
  }

  #masker(job: Job, extraSecrets: string[]): SecretMasker {
    const daemonSecrets = this.#options.daemonSecrets?.() ?? [];
    return new SecretMasker([
      ...jobSecrets(job, this.#options.settings.log.secretParameterPatterns),
      ...[...daemonSecrets, ...extraSecrets].map((value) => ({
        name: "credential",
        value,
      })),
    ]);
  }

  /** Fetches the customer certificate; a failure fails the job later. */
  async #fetchCertificate(
    job: Job,
  ): Promise<
    { certificate: CustomerCertificate | null; error: string | null }
  > {
    const source = this.#options.certificates;
    if (source === undefined || job.customer === "") {
      return { certificate: null, error: null };
    }
    try {
      return { certificate: await source.fetch(job.customer), error: null };
    } catch (error) {
      return {
        certificate: null,
        error: `Fetching the certificate of customer ${job.customer} ` +
          `failed: ${(error as Error).message}`,
      };
    }
  }

  async #writeCertificate(
    certificate: CustomerCertificate | null,
    context: RunContext,
  ): Promise<CertificateFile | null> {
    const source = this.#options.certificates;
    if (certificate === null || source === undefined) return null;
    const warning = certificateExpiryWarning(certificate, {
      warnDays: source.warnDays,
    });
    if (warning !== null) context.note(warning, "Warning");
    context.certificate = await writeCertificateFile(certificate, {
      parentDirectory: source.directory,
    });
    context.note(
      `Customer certificate ${certificate.thumbprint} mounted at ` +
        CLIENT_CERT_CONTAINER_PATH,
    );
    return context.certificate;
  }

  async #finish(
    run: RunHandle | null,
    context: RunContext,
    result: JobRunResult,
  ): Promise<JobRunResult> {
    const { job, shipper, note, logger } = context;
    // The running container keeps its bind mount of a deleted file.
    await context.certificate?.remove();
    if (result.status === "Detached") {
      note(
        `Orchestrator is shutting down; container ` +
          `${result.containerId?.slice(0, 12)} keeps running and is resumed ` +
          `at the next start`,
        "Warning",
      );
      await shipper.close();
      return { ...result, shipping: shipper.stats };
    }
    const durationSeconds = (performance.now() - context.started) / 1000;
    note(
      `Job ${result.status.toLowerCase()} after ${
        durationSeconds.toFixed(1)
      } s`,
    );
    // Every line goes out before the final status, so the status never
    // overtakes the output it concludes.
    await shipper.close();
    await this.#options.reporter.reportStatus(job.id, result.status);
    this.#options.tracker?.finished(job, result.status);
    if (run !== null) await removeRun(run, logger);
    return { ...result, durationSeconds, shipping: shipper.stats };
  }

  #resolveImage(job: Job): ImageReference {
    let image: ImageReference;
    try {
      image = parseImageReference(job.containerImage);
    } catch (error) {
      throw new JobFailure((error as Error).message);
    }
    return job.registryServer === null
      ? image
      : withRegistry(image, job.registryServer);
  }

  /**
   * Makes the image available. After a pull that the registry rejects for
   * its credentials, requests new ones from the API once and pulls again.
   */
  async #ensureImage(
    job: Job,
    image: ImageReference,
    context: RunContext,
  ): Promise<void> {
    try {
      await this.#pull(job, image, context.note);
    } catch (error) {
      const refresh = this.#options.refreshCredentials;
      if (
        !(error instanceof ImageError) || !error.authenticationFailed ||
        refresh === undefined || job.registryUsername === null
      ) {
        throw error;
      }
      context.note(
        `${error.message}; asking the IAM API for new registry credentials`,
        "Warning",
      );
      let refreshed: Job;
      try {
        refreshed = await refresh(job.id);
      } catch (refreshError) {
        throw new JobFailure(
          `${error.message}, and refreshing the registry credentials ` +
            `failed: ${(refreshError as Error).message}`,
        );
      }
      if (refreshed.registryPassword !== null) {
        // The certificate password and other extra secrets stay masked.
        context.extraSecrets = [
          ...context.extraSecrets,
          refreshed.registryPassword,
        ];
        context.masker = this.#masker(job, context.extraSecrets);
      }
      try {
        await this.#pull(refreshed, image, context.note);
      } catch (retryError) {
        if (
          retryError instanceof ImageError && retryError.authenticationFailed
        ) {
          throw new JobFailure(
            `${retryError.message}; the registry also rejected the ` +
              `credentials that the IAM API returned on refresh, so fix ` +
              `the job's registry credentials in the IAM API`,
          );
        }
        throw retryError;
      }
    }
  }

  async #pull(job: Job, image: ImageReference, note: Note): Promise<void> {
    const auth: RegistryAuth | null =
      job.registryUsername !== null && job.registryPassword !== null
        ? {
          serveraddress: image.registry ?? job.registryServer ?? "",
          username: job.registryUsername,
          password: job.registryPassword,
        }
        : null;
    let lastProgress = 0;
    await this.#options.backend.ensureImage(image, {
      policy: this.#options.settings.container.pullPolicy,
      auth,
      onProgress: (message) => {
        const now = Date.now();
        if (now - lastProgress < PULL_PROGRESS_INTERVAL_MS) return;
        lastProgress = now;
        note(`Pull: ${message}`);
      },
    });
  }

  /**
   * Streams the run's output while waiting for its exit, within the job's
   * timeout. When the engine goes away (a restart), waits for it to respond again and reads the output again from the start, skipping the lines
   * already handed to the shipper.
   */
  async #follow(
    run: RunHandle,
    context: RunContext,
    options: RunJobOptions,
    delivered: LineCounts,
    resumed: { elapsedMs: number } = { elapsedMs: 0 },
  ): Promise<JobRunResult> {
    const { settings } = this.#options;
    const { note } = context;
    const timeoutSeconds = settings.container.defaultTimeoutSeconds;
    // A resumed run keeps the time it had used before the restart.
    const deadline = Date.now() + timeoutSeconds * 1000 - resumed.elapsedMs;
    let skip = { ...delivered };
    let reason: string | null = null;
    let exit: ExitResult | null = null;
    let timedOut = false;

    for (let attempt = 0; exit === null; attempt++) {
      const skipper = new LineSkipper(context.shipper, skip);
      const reading = this.#read(run, context, skipper);
      const outcome = await this.#waitForExit(run, deadline, options);

      if (outcome.kind === "engine-lost") {
        run.closeOutput();
        await reading.done;
        skip = skipper.seen;
        note(
          `Lost the engine while following the container: ` +
            `${outcome.error.message}; waiting for it to respond again`,
          "Warning",
        );
        if (!await this.#reconnect(deadline, attempt, options)) {
          reason = "The engine did not respond again before the job's " +
            "timeout; the job's result is unknown";
          note(reason, "Error");
          return { ...failed(reason), containerId: run.id };
        }
        continue;
      }
      if (outcome.kind === "gone") {
        run.closeOutput();
        await reading.done;
        reason = `Container ${
          run.id.slice(0, 12)
        } no longer exists; it was removed outside the orchestrator`;
        note(reason, "Error");
        return { ...failed(reason), containerId: run.id };
      }
      if (outcome.kind === "detach") {
        run.closeOutput();
        await reading.done;
        reading.pipeline.end();
        return {
          ...failed(null),
          status: "Detached",
          containerId: run.id,
        };
      }
      if (outcome.kind === "timeout" || outcome.kind === "stop") {
        timedOut = outcome.kind === "timeout";
        reason = outcome.kind === "timeout"
          ? `Job timed out after ${timeoutSeconds} s; stopping its container`
          : "Job stopped because the orchestrator is shutting down";
        note(reason, "Error");
        await run.stop(settings.container.stopGraceSeconds);
        try {
          exit = await run.wait();
        } catch (error) {
          if (isNotFound(error)) {
            exit = { exitCode: -1, oomKilled: false, error: null };
          } else {
            throw error;
          }
        }
      } else if (outcome.kind === "exit") {
        exit = outcome.exit;
      }
      await this.#drain(run, reading, note);
      reading.pipeline.end();
      const streamError = await reading.done;
      if (streamError !== null) {
        note(
          `Reading the container's output failed: ${streamError.message}`,
          "Warning",
        );
      }
    }

    note(`Container exited with code ${exit.exitCode}`);
    if (exit.oomKilled) {
      reason ??= memoryKillMessage(
        memoryLimitBytes(settings.container.hardening),
        exit.exitCode,
      );
      note(reason, "Error");
    }
    if (exit.error !== null) note(`Engine reported: ${exit.error}`, "Warning");
    if (reason === null && exit.exitCode !== 0) {
      reason = `Container exited with code ${exit.exitCode}`;
    }
    return {
      ...failed(reason),
      status: reason === null ? "Completed" : "Failed",
      exitCode: exit.exitCode,
      containerId: run.id,
      timedOut,
    };
  }

  #read(run: RunHandle, context: RunContext, skipper: LineSkipper) {
    const { settings } = this.#options;
    const logger = context.logger;
    const pipeline = createOutputPipeline({
      shipper: skipper,
      masker: context.masker,
      maxLineBytes: settings.log.maxLineBytes,
      onLine: settings.log.echoContainerOutput
        ? (line, stream) =>
          logger.info("[{containerId}] {stream}: {line}", {
            containerId: run.id.slice(0, 12),
            stream,
            line,
          })
        : undefined,
    });
    const progress = { lastChunkAt: performance.now() };
    const done = (async () => {
      for await (const chunk of run.output()) {
        progress.lastChunkAt = performance.now();
        pipeline.push(chunk);
      }
    })().then(() => null, (error: Error) => error);
    return { pipeline, done, progress };
  }

  async #waitForExit(
    run: RunHandle,
    deadline: number,
    options: RunJobOptions,
  ): Promise<
    | { kind: "exit"; exit: ExitResult }
    | { kind: "engine-lost"; error: Error }
    | { kind: "timeout" | "stop" | "detach" | "gone" }
  > {
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const cleanups: Array<() => void> = [];
    const onAbort = (
      signal: AbortSignal | undefined,
      kind: "stop" | "detach",
    ) =>
      new Promise<{ kind: typeof kind }>((resolve) => {
        if (signal === undefined) return;
        if (signal.aborted) return resolve({ kind });
        const listener = () => resolve({ kind });
        signal.addEventListener("abort", listener, { once: true });
        cleanups.push(() => signal.removeEventListener("abort", listener));
      });
    try {
      return await Promise.race([
        run.wait().then(
          (exit) => ({ kind: "exit" as const, exit }),
          (error: Error) =>
            isNotFound(error)
              ? { kind: "gone" as const }
              : { kind: "engine-lost" as const, error },
        ),
        new Promise<{ kind: "timeout" }>((resolve) => {
          timers.push(
            setTimeout(
              () => resolve({ kind: "timeout" }),
              Math.max(0, deadline - Date.now()),
            ),
          );
        }),
        onAbort(options.stopSignal, "stop"),
        onAbort(options.detachSignal, "detach"),
      ]);
    } finally {
      for (const timer of timers) clearTimeout(timer);
      for (const cleanup of cleanups) cleanup();
    }
  }

  /**
   * Waits for the output stream to end. The engine ends it after the exit,
   * but not always: once the stream has been silent for OUTPUT_DRAIN_MS, it
   * is closed so that the job cannot hang here. Output the engine still
   * sends after the exit (a reader slower than the container) keeps the
   * stream open.
   */
  async #drain(
    run: RunHandle,
    reading: { done: Promise<Error | null>; progress: { lastChunkAt: number } },
    note: Note,
  ): Promise<void> {
    for (;;) {
      const silentMs = performance.now() - reading.progress.lastChunkAt;
      if (silentMs >= OUTPUT_DRAIN_MS) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        reading.done.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), OUTPUT_DRAIN_MS - silentMs);
        }),
      ]);
      clearTimeout(timer);
      if (drained) return;
    }
    note(
      `The container's output stream sent nothing for ` +
        `${OUTPUT_DRAIN_MS / 1000} s after the exit and was closed; output ` +
        `after that point, if any, is missing`,
      "Warning",
    );
    run.closeOutput();
    await reading.done;
  }

  async #reconnect(
    deadline: number,
    attempt: number,
    options: RunJobOptions,
  ): Promise<boolean> {
    for (let tries = attempt; Date.now() < deadline; tries++) {
      if (options.stopSignal?.aborted || options.detachSignal?.aborted) {
        return true;
      }
      try {
        await this.#options.backend.describe();
        return true;
      } catch {
        await sleep(
          backoffDelay(tries, { baseMs: 500, capMs: ENGINE_RECONNECT_CAP_MS }),
        );
      }
    }
    return false;
  }
}

/** Builds a failed result with every field set, for callers to override. */
function failed(reason: string | null): JobRunResult {
  return {
    status: "Failed",
    exitCode: null,
    reason,
    containerId: null,
    timedOut: false,
    durationSeconds: 0,
    shipping: null,
  };
}

function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number } | null)?.statusCode === 404;
}
