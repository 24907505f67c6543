/**
 * The seam between job execution and whatever runs containers. Job
 * execution calls only this interface, so a cluster backend can take the
 * place of the local engine without changes above it.
 *
 * @module
 */
import type { PullPolicy } from "../config/settings.ts";
import type { ImageReference } from "./image_reference.ts";

/** Credentials for pulling from a private registry. Never log them. */
export interface RegistryAuth {
  serveraddress: string;
  username: string;
  password: string;
}

/** Everything needed to start one job's container. */
export interface RunSpec {
  /** Container name, unique per run. */
  name: string;
  /** Image reference formatted for the engine. */
  image: string;
  /** `KEY=value` pairs. */
  env: string[];
  labels: Record<string, string>;
  /** Read-only bind mounts, host path to container path. */
  readOnlyMounts?: Array<{ hostPath: string; containerPath: string }>;
}

/** The outcome of a run. */
export interface ExitResult {
  exitCode: number;
  /** True when the kernel killed the container for exceeding its memory limit. */
  oomKilled: boolean;
  /** An error the engine reported about the run, or null. */
  error: string | null;
}

/** A started run. */
export interface RunHandle {
  readonly id: string;
  /**
   * Follows the run's output from its start as the engine's multiplexed
   * stream (8-byte frame headers). Ends when the run's output ends;
   * `closeOutput` ends it early.
   */
  output(): AsyncIterable<Uint8Array>;
  /** Ends the output stream started by `output`, if any. */
  closeOutput(): void;
  /** Resolves when the run has exited. */
  wait(): Promise<ExitResult>;
  /** Stops the run: SIGTERM, then SIGKILL after `graceSeconds`. */
  stop(graceSeconds: number): Promise<void>;
  /** Removes the run and what it left behind; missing runs are ignored. */
  remove(): Promise<void>;
}

/** Progress of an image pull, one message per layer event. */
export type PullProgress = (message: string) => void;

/** Something that runs containers: the local engine or a cluster. */
export interface ExecutionBackend {
  /** Checks that the engine responds, returning its name and version. */
  describe(): Promise<{ name: string; version: string; apiVersion: string }>;
  /**
   * Makes the image available according to the pull policy.
   *
   * @throws {ImageError} when the image cannot be had
   */
  ensureImage(
    image: ImageReference,
    options: {
      policy: PullPolicy;
      auth: RegistryAuth | null;
      onProgress?: PullProgress;
    },
  ): Promise<void>;
  /** Creates and starts a run. */
  start(spec: RunSpec): Promise<RunHandle>;
  /** Returns a handle for a run that already exists, by its id. */
  attach(runId: string): RunHandle;
  /** Lists the runs that carry all of these labels, running or not. */
  listRuns(labels: Record<string, string>): Promise<RunSummary[]>;
}

/** A run found by its labels. */
export interface RunSummary {
  id: string;
  labels: Record<string, string>;
  /** True while the run's process is still going. */
  running: boolean;
  /**
   * True when the run was created but never started, as after a crash
   * between the two steps; its exit code means nothing then.
   */
  neverStarted?: boolean;
}

/** An image that could not be found or pulled. */
export class ImageError extends Error {
  /** True when the registry rejected the credentials. */
  readonly authenticationFailed: boolean;

  constructor(
    message: string,
    options: { authenticationFailed?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "ImageError";
    this.authenticationFailed = options.authenticationFailed ?? false;
  }
}
