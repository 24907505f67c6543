/**
 * The reference IAM API and a daemon in the benchmark's own process, with
 * the recorders that time a job: status changes and log entries as the API
 * receives them, and the daemon's poll responses.
 *
 * @module
 */
import { loadSettings } from "../../src/config/load_settings.ts";
import {
  type RunningDaemon,
  startDaemon,
} from "../../src/daemon/start_daemon.ts";
import type { Job, JobStatus } from "../../src/iam_api/job.ts";
import {
  type ReferenceApi,
  type ReferenceApiEvent,
  startReferenceApi,
} from "../../src/reference_api/server.ts";
import type { ExecutionBackend } from "../../src/runtime/execution_backend.ts";
import { BENCH_CUSTOMER, DOCKER_SOCKET } from "./engine.ts";

/** Status changes and log entries received by the reference API, timed. */
export class ApiRecorder {
  readonly #statusTimes = new Map<string, Map<JobStatus, number>>();
  readonly #statusCounts = new Map<JobStatus, number>();
  readonly #waiters: Array<() => boolean> = [];
  readonly #logListeners: Array<(event: LogEvent) => void> = [];

  /** The callback to pass as the reference API's `onEvent`. */
  readonly onEvent = (event: ReferenceApiEvent): void => {
    if (event.type === "statusChanged") {
      const now = performance.now();
      let times = this.#statusTimes.get(event.jobId);
      if (times === undefined) {
        times = new Map();
        this.#statusTimes.set(event.jobId, times);
      }
      if (!times.has(event.to)) times.set(event.to, now);
      this.#statusCounts.set(
        event.to,
        (this.#statusCounts.get(event.to) ?? 0) + 1,
      );
      this.#check();
    } else if (event.type === "log") {
      const logEvent = { ...event, at: performance.now() };
      for (const listener of this.#logListeners) listener(logEvent);
    }
  };

  /** Returns when the job first reached the status, in `performance.now()` ms. */
  statusTime(jobId: string, status: JobStatus): number | undefined {
    return this.#statusTimes.get(jobId)?.get(status);
  }

  /** Calls `listener` for every log entry the API receives. */
  onLog(listener: (event: LogEvent) => void): void {
    this.#logListeners.push(listener);
  }

  /**
   * Waits until the job reaches the status and returns the time it did.
   *
   * @throws {Error} after `timeoutMs`
   */
  async waitForStatus(
    jobId: string,
    status: JobStatus,
    timeoutMs: number,
  ): Promise<number> {
    await this.#waitFor(
      () => this.statusTime(jobId, status) !== undefined,
      `job ${jobId} to reach ${status}`,
      timeoutMs,
    );
    return this.statusTime(jobId, status)!;
  }

  /**
   * Waits until `count` status changes to `status` were received in total.
   *
   * @throws {Error} after `timeoutMs`
   */
  async waitForCount(
    status: JobStatus,
    count: number,
    timeoutMs: number,
  ): Promise<void> {
    await this.#waitFor(
      () => (this.#statusCounts.get(status) ?? 0) >= count,
      `${count} jobs to reach ${status}`,
      timeoutMs,
    );
  }

  /** Returns how many jobs reached the status. */
  count(status: JobStatus): number {
    return this.#statusCounts.get(status) ?? 0;
  }

  async #waitFor(
    condition: () => boolean,
    what: string,
    timeoutMs: number,
  ): Promise<void> {
    if (condition()) return;
    const reached = Promise.withResolvers<void>();
    const check = () => {
      if (!condition()) return false;
      reached.resolve();
      return true;
    };
    this.#waiters.push(check);
    const timer = setTimeout(
      () =>
        reached.reject(
          new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`),
        ),
      timeoutMs,
    );
    try {
      await reached.promise;
    } finally {
      clearTimeout(timer);
      const index = this.#waiters.indexOf(check);
      if (index >= 0) this.#waiters.splice(index, 1);
    }
  }

  #check(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** A log entry as the reference API received it, with its arrival time. */
export type LogEvent = Extract<ReferenceApiEvent, { type: "log" }> & {
  at: number;
};

/** Starts the reference API with log entries counted but not kept. */
export async function startBenchApi(
  recorder: ApiRecorder,
): Promise<ReferenceApi> {
  return await startReferenceApi({
    keepLogEntries: false,
    onEvent: recorder.onEvent,
  });
}

/**
 * Records when the daemon's `GET /api/jobs/pending` responses arrive, by
 * wrapping `globalThis.fetch` of this process. The daemon's API client
 * takes `globalThis.fetch` when it is built, so install the probe before
 * starting the daemon and remove it after shutdown.
 */
export class PollProbe {
  readonly #original: typeof fetch;
  readonly #watches = new Map<string, PromiseWithResolvers<number>>();
  #responses = 0;
  #firstResponse = Promise.withResolvers<number>();

  constructor() {
    this.#original = globalThis.fetch;
    const original = this.#original;
    globalThis.fetch = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const response = await original(input, init);
      if (url.includes("/api/jobs/pending")) {
        const at = performance.now();
        this.#responses++;
        this.#firstResponse.resolve(at);
        // Read from a copy in the background, so the daemon's own read of
        // the response is not delayed by the probe.
        if (this.#watches.size > 0) void this.#match(response.clone(), at);
      }
      return response;
    };
  }

  /** Number of poll responses so far. */
  get responses(): number {
    return this.#responses;
  }

  /** Resolves with the arrival time of the first poll response. */
  firstResponse(): Promise<number> {
    return this.#firstResponse.promise;
  }

  /**
   * Resolves with the arrival time of the first poll response that lists
   * the job. Call it before the job is added.
   */
  watch(jobId: string): Promise<number> {
    const watch = Promise.withResolvers<number>();
    this.#watches.set(jobId, watch);
    return watch.promise;
  }

  async #match(response: Response, at: number): Promise<void> {
    const text = await response.text();
    for (const [jobId, watch] of this.#watches) {
      if (!text.includes(jobId)) continue;
      watch.resolve(at);
      this.#watches.delete(jobId);
    }
  }

  /** Puts the original `fetch` back. */
  remove(): void {
    globalThis.fetch = this.#original;
  }
}

/** A daemon in this process with its temporary state directory. */
export interface BenchDaemon {
  running: RunningDaemon;
  /** Shuts the daemon down and deletes its state directory. */
  stop(): Promise<void>;
}

/**
 * Starts a daemon in this process against `apiUrl`, with the benchmark
 * customer, a fresh state directory and these extra settings.
 */
export async function startBenchDaemon(
  apiUrl: string,
  options: {
    settings?: Record<string, string>;
    backend?: ExecutionBackend;
    /** Called after each job's run, once its container was removed. */
    onJobFinished?: (job: Job) => void;
  } = {},
): Promise<BenchDaemon> {
  const stateDirectory = await Deno.makeTempDir({ prefix: "iam-bench-" });
  const flags = Object.entries({
    ...benchSettings(apiUrl, stateDirectory),
    ...options.settings,
  }).map(([key, value]) => ({ key, value, flag: "--set" }));
  const { settings } = await loadSettings({ env: {}, flags });
  const running = await startDaemon(settings, {
    version: "benchmark",
    backend: options.backend,
    onJobFinished: options.onJobFinished,
  });
  return {
    running,
    async stop() {
      await running.shutdown();
      await Deno.remove(stateDirectory, { recursive: true });
    },
  };
}

/** Settings every benchmark daemon gets, in-process or as a child process. */
export function benchSettings(
  apiUrl: string,
  stateDirectory: string,
): Record<string, string> {
  return {
    "ApiSettings:BaseUrl": apiUrl,
    "CustomerSettings:CustomerName": BENCH_CUSTOMER,
    "ContainerSettings:DockerEndpoint": `unix://${DOCKER_SOCKET}`,
    "OrchestratorSettings:StateDirectory": stateDirectory,
  };
}
