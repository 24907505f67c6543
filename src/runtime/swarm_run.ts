/**
 * One job run as a swarm service: its output, its end, stopping and
 * removing it.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import { getLogger } from "@logtape/logtape";
import type { ExitResult, RunHandle } from "./execution_backend.ts";
import {
  apiMessageOf,
  apiStatusOf,
  ignoreNotFound,
} from "./swarm_api_error.ts";
import {
  ByteChecksum,
  type LogStream,
  openServiceLogs,
} from "./swarm_service_logs.ts";
import { SWARM_RUN_LABEL } from "./swarm_service_spec.ts";
import {
  isUnscheduled,
  judgeTask,
  latestTask,
  type SwarmTask,
} from "./swarm_task_state.ts";

const logger = getLogger(["iam-orchestrator", "runtime"]);

/** Settings of a run's status polling. */
export interface SwarmRunOptions {
  /** Service name, when known; looked up on removal otherwise. */
  name?: string;
  /** Time between two reads of the task's status, in ms. */
  pollIntervalMs: number;
  /** Time a task may stay unscheduled before the run ends, in seconds. */
  unschedulableTimeoutSeconds: number;
}

/** Label that the swarm puts on every task container: the service ID. */
const SWARM_SERVICE_ID_LABEL = "com.docker.swarm.service.id";
/** Failed status reads in a row after which `wait` gives up. */
const MAX_POLL_FAILURES = 5;
/** Time `stop` waits for the task's end beyond the grace period, in s. */
const STOP_SETTLE_SECONDS = 15;
/** Attempts to remove a secret that the engine still reports in use. */
const SECRET_REMOVE_ATTEMPTS = 5;

const ENDED: unique symbol = Symbol("ended");

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The run's service no longer exists. Its `statusCode` is 404, as for the
 * engine's own "not found" errors, so callers treat both alike.
 */
export class ServiceGoneError extends Error {
  readonly statusCode = 404;

  constructor(serviceId: string) {
    super(
      `Service ${serviceId} no longer exists; it was removed outside ` +
        `the orchestrator`,
    );
    this.name = "ServiceGoneError";
  }
}

/** A run of one job as a swarm service with a single task. */
export class SwarmRun implements RunHandle {
  readonly #docker: Docker;
  readonly #service: Docker.Service;
  readonly #options: SwarmRunOptions;
  #name: string | null;
  #outcome: Promise<ExitResult> | null = null;
  #stream: LogStream | null = null;
  #outputClosed = false;
  #stopRequested = false;

  constructor(docker: Docker, serviceId: string, options: SwarmRunOptions) {
    this.#docker = docker;
    this.#service = docker.getService(serviceId);
    this.#options = options;
    this.#name = options.name ?? null;
  }

  /** The service ID. */
  get id(): string {
    return this.#service.id;
  }

  /**
   * Follows the service's logs while the task runs. The engine does not end
   * a followed service log when the task ends, so once the task has ended
   * this closes it and reads the logs again without following, skipping
   * the bytes already delivered. That read is complete, so the last lines
   * are not lost to a follower that lags behind.
   */
  async *output(): AsyncIterable<Uint8Array> {
    // A new read after `closeOutput`, as after a lost engine, starts afresh.
    this.#outputClosed = false;
    const delivered = new ByteChecksum();
    let endedWell = false;
    const ended: Promise<typeof ENDED> = this.#waitForEnd().then(
      () => {
        endedWell = true;
        return ENDED;
      },
      () => ENDED,
    );
    const follow = await openServiceLogs(this.#docker, this.id, {
      follow: true,
    });
    if (this.#outputClosed) {
      follow.destroy();
      return;
    }
    this.#stream = follow;
    const iterator = follow[Symbol.asyncIterator]();
    try {
      for (;;) {
        const next = iterator.next();
        const first = await Promise.race([next, ended]);
        if (first === ENDED) {
          // A chunk that this pending read still returns is not delivered,
          // so the second read below delivers it.
          next.catch(() => {});
          break;
        }
        if (first.done) break;
        delivered.update(first.value);
        yield first.value;
      }
    } catch (error) {
      if (!this.#outputClosed) throw error;
    } finally {
      follow.destroy();
      this.#stream = null;
    }
    if (this.#outputClosed) return;
    await ended;
    // Without a known end, the caller reads again from the start once the
    // engine responds again, so there is nothing to complete here.
    if (this.#outputClosed || !endedWell) return;
    yield* this.#readRemainder(delivered);
  }

  /** Reads the whole log again and yields what follows `delivered`. */
  async *#readRemainder(
    delivered: ByteChecksum,
  ): AsyncIterable<Uint8Array> {
    const all = await ignoreNotFound(() =>
      openServiceLogs(this.#docker, this.id, { follow: false })
    );
    if (all === null) return;
    this.#stream = all;
    const prefix = new ByteChecksum();
    try {
      for await (const chunk of all) {
        const skip = Math.min(delivered.length - prefix.length, chunk.length);
        if (skip > 0) prefix.update(chunk.subarray(0, skip));
        if (skip === chunk.length) continue;
        if (prefix.value !== delivered.value) {
          // Appending to bytes that differ would cut frames in the middle.
          logger.warn(
            "Service {serviceId} returned different logs on a second " +
              "read; output after byte {offset} is not shipped",
            { serviceId: this.id, offset: delivered.length },
          );
          return;
        }
        yield chunk.subarray(skip);
      }
    } catch (error) {
      if (!this.#outputClosed) throw error;
    } finally {
      all.destroy();
      this.#stream = null;
    }
  }

  closeOutput(): void {
    this.#outputClosed = true;
    this.#stream?.destroy();
    this.#stream = null;
  }

  /**
   * Polls the service's task until it reaches a final state, or stays
   * unscheduled for longer than the unschedulable timeout.
   */
  wait(): Promise<ExitResult> {
    return this.#waitForEnd();
  }

  #waitForEnd(): Promise<ExitResult> {
    if (this.#outcome === null) {
      const outcome = this.#pollUntilEnd();
      this.#outcome = outcome;
      // A failed read is not kept, so the next `wait` polls again.
      outcome.catch(() => {
        if (this.#outcome === outcome) this.#outcome = null;
      });
    }
    return this.#outcome;
  }

  async #pollUntilEnd(): Promise<ExitResult> {
    const { pollIntervalMs, unschedulableTimeoutSeconds } = this.#options;
    let unscheduledSince: number | null = null;
    let failures = 0;
    for (;;) {
      let task: SwarmTask | null | undefined;
      try {
        task = await this.#currentTask();
        failures = 0;
      } catch (error) {
        failures += 1;
        if (failures >= MAX_POLL_FAILURES) {
          throw new Error(
            `Reading the task of service ${this.id} failed ` +
              `${failures} times in a row: ${apiMessageOf(error)}`,
            { cause: error },
          );
        }
        await sleep(pollIntervalMs);
        continue;
      }
      if (task === undefined) {
        if (this.#stopRequested) return this.#removedResult();
        throw new ServiceGoneError(this.id);
      }

      const now = performance.now();
      if (task === null || isUnscheduled(task)) unscheduledSince ??= now;
      else unscheduledSince = null;
      const unscheduledSeconds = unscheduledSince === null
        ? 0
        : (now - unscheduledSince) / 1000;
      if (task === null) {
        if (unscheduledSeconds >= unschedulableTimeoutSeconds) {
          return {
            exitCode: -1,
            oomKilled: false,
            error: `Service ${this.id} created no task within ` +
              `${unschedulableTimeoutSeconds} s`,
          };
        }
      } else {
        const verdict = judgeTask(task, {
          unscheduledSeconds,
          unschedulableTimeoutSeconds,
        });
        if (verdict.ended) {
          return {
            exitCode: verdict.exitCode,
            oomKilled: await this.#oomKilled(verdict.containerId),
            error: verdict.error,
          };
        }
      }
      await sleep(pollIntervalMs);
    }
  }

  /**
   * Returns the latest task, null when the service has none yet, or
   * undefined when the service is gone.
   */
  async #currentTask(): Promise<SwarmTask | null | undefined> {
    // The engine returns 404 when the service filter names no service.
    const tasks = await ignoreNotFound(() =>
      this.#docker.listTasks({ filters: { service: [this.id] } })
    ) as SwarmTask[] | null;
    if (tasks === null) return undefined;
    const task = latestTask(tasks);
    if (task !== null) return task;
    const service = await ignoreNotFound(() => this.#service.inspect());
    return service === null ? undefined : null;
  }

  #removedResult(): ExitResult {
    return {
      exitCode: -1,
      oomKilled: false,
      error: `Service ${this.id} was removed by stop before its task ` +
        `reported an exit code`,
    };
  }

  /**
   * Reads the OOM flag of the task's container. The flag is only known when
   * the container ran on this engine; on another node it reads as false.
   */
  async #oomKilled(containerId: string | null): Promise<boolean> {
    if (containerId === null) return false;
    try {
      const state = (await this.#docker.getContainer(containerId).inspect())
        .State;
      return state.OOMKilled;
    } catch {
      return false;
    }
  }

  /**
   * Stops the task and removes the service. When the task's container runs
   * on this engine, it is stopped first with the given grace period, so its
   * exit code is known. On another node, removing the service makes that
   * node stop the container with the service's `StopGracePeriod`.
   */
  async stop(graceSeconds: number): Promise<void> {
    this.#stopRequested = true;
    const task = await this.#currentTask();
    const containerId = task?.Status?.ContainerStatus?.ContainerID || null;
    if (
      containerId !== null && await this.#stopLocal(containerId, graceSeconds)
    ) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#waitForEnd().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(
            resolve,
            (graceSeconds + STOP_SETTLE_SECONDS) * 1000,
          );
        }),
      ]);
      clearTimeout(timer);
    }
    await this.#removeService();
  }

  /** Stops a local container; returns false when it is not on this engine. */
  async #stopLocal(
    containerId: string,
    graceSeconds: number,
  ): Promise<boolean> {
    try {
      await this.#docker.getContainer(containerId).stop({ t: graceSeconds });
      return true;
    } catch (error) {
      const status = apiStatusOf(error);
      // 304: already stopped.
      if (status === 304) return true;
      if (status === 404) return false;
      throw error;
    }
  }

  async #removeService(): Promise<void> {
    if (this.#name === null) {
      const service = await ignoreNotFound(() => this.#service.inspect());
      this.#name = service?.Spec?.Name ?? null;
    }
    await ignoreNotFound(() => this.#service.remove());
  }

  /**
   * Removes the service, its task containers on this engine and the secrets
   * created for it. Secrets are found by their label, so a run adopted with
   * {@linkcode SwarmBackend.attach} finds them too, as long as its service
   * still exists to name them.
   */
  async remove(): Promise<void> {
    await this.#removeService();
    await this.#removeLocalContainers();
    if (this.#name === null) return;
    const secrets = await this.#docker.listSecrets({
      filters: { label: [`${SWARM_RUN_LABEL}=${this.#name}`] },
    });
    for (const secret of secrets) {
      await this.#removeSecret(secret.ID);
    }
  }

  /**
   * Removes the task containers that this engine holds. Docker 20.10 keeps
   * the containers of a `replicated-job` service after the service is
   * removed, running ones included, so they are removed here.
   *
   * NOTE: containers on other nodes are left to the swarm, which on Docker
   * 20.10 does not remove them either.
   */
  async #removeLocalContainers(): Promise<void> {
    const containers = await this.#docker.listContainers({
      all: true,
      filters: { label: [`${SWARM_SERVICE_ID_LABEL}=${this.id}`] },
    });
    for (const container of containers) {
      try {
        await this.#docker.getContainer(container.Id).remove({
          force: true,
          v: true,
        });
      } catch (error) {
        // 404: gone; 409: removal already in progress.
        const status = apiStatusOf(error);
        if (status !== 404 && status !== 409) throw error;
      }
    }
  }

  async #removeSecret(secretId: string): Promise<void> {
    for (let attempt = 1;; attempt++) {
      try {
        await ignoreNotFound(() => this.#docker.getSecret(secretId).remove());
        return;
      } catch (error) {
        // The engine can still count the secret as used by the service
        // that was removed a moment ago.
        if (
          !/in use/i.test(apiMessageOf(error)) ||
          attempt >= SECRET_REMOVE_ATTEMPTS
        ) {
          throw error;
        }
        await sleep(this.#options.pollIntervalMs);
      }
    }
  }
}
