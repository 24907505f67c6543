/**
 * Runs one job from start to final status: Running, pull, create, start,
 * stream output, wait with the timeout, read output to its end, Completed
 * or Failed, remove.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";
import type { Settings } from "../config/settings.ts";
import type { Job, JobStatus, LogEntry, LogLevel } from "../iam_api/job.ts";
import {
  type ExecutionBackend,
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
import { LogShipper } from "../log_shipping/log_shipper.ts";
import { createOutputPipeline } from "../log_shipping/output_pipeline.ts";
import { jobSecrets, SecretMasker } from "../log_shipping/secret_masker.ts";
import { buildJobEnvironment } from "./job_environment.ts";
import { jobLabels } from "./job_labels.ts";

/** The calls a job run makes to the IAM API. */
export interface JobReporter {
  /** Sets the job's status; retried by the implementation as needed. */
  reportStatus(jobId: string, status: JobStatus): Promise<void>;
  /** Sends one log entry; throws when the API did not accept it. */
  sendLog(entry: LogEntry): Promise<void>;
}

/** How a run ended. */
export interface JobRunResult {
  status: "Completed" | "Failed";
  exitCode: number | null;
  /** Why the job failed, or null. */
  reason: string | null;
  containerId: string | null;
}

export interface JobRunnerOptions {
  backend: ExecutionBackend;
  reporter: JobReporter;
  settings: Settings;
  orchestratorId: string;
  logger: Logger;
  /** Secrets of the daemon itself, such as the API password, masked too. */
  daemonSecrets?: string[];
}

export interface RunJobOptions {
  /** The scheduled fire time this run belongs to. */
  fireTime?: Date;
  /** Aborted when the daemon stops the job early (shutdown in Stop mode). */
  signal?: AbortSignal;
}

/** Time allowed for the output stream to end by itself after the exit. */
const OUTPUT_DRAIN_MS = 5_000;
/** Shortest time between two pull progress messages in the job's log. */
const PULL_PROGRESS_INTERVAL_MS = 2_000;

class JobFailure extends Error {}

/** Runs jobs in containers; one instance serves every job of the daemon. */
export class JobRunner {
  readonly #options: JobRunnerOptions;

  constructor(options: JobRunnerOptions) {
    this.#options = options;
  }

  /** Runs one job to its final status. Never throws for a job's own failure. */
  async run(job: Job, options: RunJobOptions = {}): Promise<JobRunResult> {
    const { reporter, settings } = this.#options;
    const started = performance.now();
    const logger = this.#options.logger.with({
      jobId: job.id,
      jobName: job.name,
      customer: job.customer,
    });
    const masker = new SecretMasker([
      ...jobSecrets(job, settings.log.secretParameterPatterns),
      ...(this.#options.daemonSecrets ?? []).map((value) => ({
        name: "daemon secret",
        value,
      })),
    ]);
    const shipper = new LogShipper(job.id, {
      send: (entry: LogEntry) => reporter.sendLog(entry),
    }, {
      maxEntryBytes: settings.log.maxEntryBytes,
      flushIntervalMs: settings.log.flushIntervalMs,
      maxJobLogBytes: settings.log.maxJobLogBytes,
      spoolDirectory: settings.orchestrator.stateDirectory,
    });
    const note = (message: string, level: LogLevel = "Info") => {
      const masked = masker.mask(message);
      shipper.appendOrchestrator(masked, level);
      if (level === "Error") logger.error(masked);
      else if (level === "Warning") logger.warn(masked);
      else logger.info(masked);
    };
    if (masker.skipped.length > 0) {
      note(
        `Not masking ${masker.skipped.join(", ")}: shorter than the ` +
          `minimum secret length`,
        "Warning",
      );
    }

    await reporter.reportStatus(job.id, "Running");
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
      const image = this.#resolveImage(job);
      note(`Image: ${formatImageReference(image)}`);
      await this.#ensureImage(job, image, note);
      const environment = buildJobEnvironment(job);
      if (!environment.ok) throw new JobFailure(environment.reason);
      for (const warning of environment.warnings) note(warning, "Warning");

      run = await this.#options.backend.start({
        name: `iam-job-${job.id.slice(0, 8)}-${
          crypto.randomUUID().slice(0, 8)
        }`,
        image: formatImageReference(image),
        env: environment.env,
        labels: jobLabels(job, this.#options.orchestratorId),
      });
      note(`Container ${run.id.slice(0, 12)} started`);
      result = await this.#follow(run, shipper, masker, note, options.signal);
    } catch (error) {
      const reason = error instanceof JobFailure || error instanceof ImageError
        ? error.message
        : `Job failed before its container ran: ${(error as Error).message}`;
      note(reason, "Error");
      result = {
        status: "Failed",
        exitCode: null,
        reason,
        containerId: run?.id ?? null,
      };
    }

    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    note(`Job ${result.status.toLowerCase()} after ${seconds} s`);
    // Every line goes out before the final status, so the status never
    // overtakes the output it concludes.
    await shipper.close();
    await reporter.reportStatus(job.id, result.status);
    if (run !== null) {
      try {
        await run.remove();
      } catch (error) {
        logger.warn("Removing container {containerId} failed: {error}", {
          containerId: run.id,
          error: (error as Error).message,
        });
      }
    }
    return result;
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

  async #ensureImage(
    job: Job,
    image: ImageReference,
    note: (message: string, level?: LogLevel) => void,
  ): Promise<void> {
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

  async #follow(
    run: RunHandle,
    shipper: LogShipper,
    masker: SecretMasker,
    note: (message: string, level?: LogLevel) => void,
    signal: AbortSignal | undefined,
  ): Promise<JobRunResult> {
    const { settings } = this.#options;
    const echo = settings.log.echoContainerOutput;
    const logger = this.#options.logger;
    const pipeline = createOutputPipeline({
      shipper,
      masker,
      maxLineBytes: settings.log.maxLineBytes,
      onLine: echo
        ? (line, stream) =>
          logger.info("[{containerId}] {stream}: {line}", {
            containerId: run.id.slice(0, 12),
            stream,
            line,
          })
        : undefined,
    });
    const reading = (async () => {
      for await (const chunk of run.output()) pipeline.push(chunk);
    })();
    // A failure of the stream itself is reported once the exit is known.
    const readingOutcome = reading.then(() => null, (error: Error) => error);

    const timeoutSeconds = settings.container.defaultTimeoutSeconds;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutSeconds * 1000);
    });
    const aborted = new Promise<"aborted">((resolve) => {
      if (signal?.aborted) resolve("aborted");
      signal?.addEventListener("abort", () => resolve("aborted"), {
        once: true,
      });
    });
    const exited = run.wait();
    const first = await Promise.race([exited, timedOut, aborted]);
    clearTimeout(timer);

    let reason: string | null = null;
    if (first === "timeout" || first === "aborted") {
      reason = first === "timeout"
        ? `Job timed out after ${timeoutSeconds} s; stopping its container`
        : "Job stopped because the orchestrator is shutting down";
      note(reason, "Error");
      await run.stop(settings.container.stopGraceSeconds);
    }
    const exit = await exited;

    // The engine ends the stream after the exit, but not always: give it a
    // moment, then close it so that the job cannot hang here.
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    const drained = await Promise.race([
      readingOutcome.then(() => true),
      new Promise<false>((resolve) => {
        drainTimer = setTimeout(() => resolve(false), OUTPUT_DRAIN_MS);
      }),
    ]);
    clearTimeout(drainTimer);
    if (!drained) {
      run.closeOutput();
      await readingOutcome;
    }
    const streamError = await readingOutcome;
    pipeline.end();
    if (streamError !== null) {
      note(
        `Reading the container's output failed: ${streamError.message}`,
        "Warning",
      );
    }

    note(`Container exited with code ${exit.exitCode}`);
    if (exit.oomKilled) {
      reason ??= `Container was killed for exceeding its memory limit ` +
        `(exit code ${exit.exitCode})`;
      note(reason, "Error");
    }
    if (exit.error !== null) {
      note(`Engine reported: ${exit.error}`, "Warning");
    }
    if (reason === null && exit.exitCode !== 0) {
      reason = `Container exited with code ${exit.exitCode}`;
    }
    return {
      status: reason === null ? "Completed" : "Failed",
      exitCode: exit.exitCode,
      reason,
      containerId: run.id,
    };
  }
}
