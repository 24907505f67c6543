/**
 * An execution backend that delegates to another one and records when each
 * engine call of a run started and ended, so that a job's time can be split
 * into its steps.
 *
 * @module
 */
import { LABELS } from "../../src/execution/job_labels.ts";
import type { PullPolicy } from "../../src/config/settings.ts";
import type {
  ExecutionBackend,
  ExitResult,
  PullProgress,
  RegistryAuth,
  RunHandle,
  RunSpec,
  RunSummary,
} from "../../src/runtime/execution_backend.ts";
import type { ImageReference } from "../../src/runtime/image_reference.ts";

/** Start and end of one call, in `performance.now()` milliseconds. */
export interface Span {
  start: number;
  end: number;
}

/** The recorded calls of one run, keyed by the job id label. */
export interface RunSpans {
  jobId: string;
  /**
   * The image check that preceded `start`. Correct only while one job at a
   * time is being prepared, because the backend call carries no job id.
   */
  imageCheck: Span | null;
  /** Create and start of the container. */
  start: Span;
  /** The first `wait` call, which resolves when the container exited. */
  wait: Span | null;
  /** When the first `output` stream ended. */
  outputEnd: number | null;
  remove: Span | null;
}

/** Records the engine calls of every run and passes them on. */
export class TimedBackend implements ExecutionBackend {
  readonly #inner: ExecutionBackend;
  readonly #runs = new Map<string, RunSpans>();
  #lastImageCheck: Span | null = null;
  #onStart: ((spans: RunSpans) => void) | null;

  /**
   * @param inner the backend that runs the containers
   * @param options.onStart called when a run's container has started
   */
  constructor(
    inner: ExecutionBackend,
    options: { onStart?: (spans: RunSpans) => void } = {},
  ) {
    this.#inner = inner;
    this.#onStart = options.onStart ?? null;
  }

  /** Returns the recorded spans of a job's run, if it started. */
  spans(jobId: string): RunSpans | undefined {
    return this.#runs.get(jobId);
  }

  describe(): Promise<{ name: string; version: string; apiVersion: string }> {
    return this.#inner.describe();
  }

  async ensureImage(
    image: ImageReference,
    options: {
      policy: PullPolicy;
      auth: RegistryAuth | null;
      onProgress?: PullProgress;
    },
  ): Promise<void> {
    const start = performance.now();
    await this.#inner.ensureImage(image, options);
    this.#lastImageCheck = { start, end: performance.now() };
  }

  async start(spec: RunSpec): Promise<RunHandle> {
    const start = performance.now();
    const handle = await this.#inner.start(spec);
    const spans: RunSpans = {
      jobId: spec.labels[LABELS.jobId] ?? spec.name,
      imageCheck: this.#lastImageCheck,
      start: { start, end: performance.now() },
      wait: null,
      outputEnd: null,
      remove: null,
    };
    this.#lastImageCheck = null;
    this.#runs.set(spans.jobId, spans);
    this.#onStart?.(spans);
    return new TimedRun(handle, spans);
  }

  attach(runId: string): RunHandle {
    return this.#inner.attach(runId);
  }

  listRuns(labels: Record<string, string>): Promise<RunSummary[]> {
    return this.#inner.listRuns(labels);
  }
}

class TimedRun implements RunHandle {
  readonly #inner: RunHandle;
  readonly #spans: RunSpans;

  constructor(inner: RunHandle, spans: RunSpans) {
    this.#inner = inner;
    this.#spans = spans;
  }

  get id(): string {
    return this.#inner.id;
  }

  async *output(): AsyncIterable<Uint8Array> {
    try {
      yield* this.#inner.output();
    } finally {
      this.#spans.outputEnd ??= performance.now();
    }
  }

  closeOutput(): void {
    this.#inner.closeOutput();
  }

  async wait(): Promise<ExitResult> {
    const start = performance.now();
    const result = await this.#inner.wait();
    this.#spans.wait ??= { start, end: performance.now() };
    return result;
  }

  stop(graceSeconds: number): Promise<void> {
    return this.#inner.stop(graceSeconds);
  }

  async remove(): Promise<void> {
    const start = performance.now();
    await this.#inner.remove();
    this.#spans.remove ??= { start, end: performance.now() };
  }
}
