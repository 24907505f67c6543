/**
 * Runs the daemon in this process against the reference IAM API on
 * loopback and the real Docker engine, for integration tests.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { loadSettings } from "../../src/config/load_settings.ts";
import type { Settings } from "../../src/config/settings.ts";
import {
  type RunningDaemon,
  startDaemon,
} from "../../src/daemon/start_daemon.ts";
import { LABELS } from "../../src/execution/job_labels.ts";
import type { JobStatus } from "../../src/iam_api/job.ts";
import {
  type ReferenceApi,
  startReferenceApi,
} from "../../src/reference_api/server.ts";

/** Everything a test needs to drive and observe one daemon. */
export interface Harness {
  api: ReferenceApi;
  daemon: RunningDaemon;
  settings: Settings;
  docker: Docker;
  stateDirectory: string;
}

export interface HarnessOptions {
  /** Extra configuration keys, `Section:Key` to value. */
  settings?: Record<string, string>;
  /** Options for the reference API. */
  api?: Parameters<typeof startReferenceApi>[0];
}

/** Maximum time a test waits for a job to reach a status, in ms. */
export const JOB_WAIT_MS = 60_000;

/** Starts the reference API and a daemon, runs `body`, then stops both. */
export async function withHarness(
  options: HarnessOptions,
  body: (harness: Harness) => Promise<void>,
): Promise<void> {
  const api = await startReferenceApi(options.api ?? {});
  const stateDirectory = await Deno.makeTempDir({ prefix: "iam-state-" });
  const flags = Object.entries({
    "ApiSettings:BaseUrl": api.url,
    "ApiSettings:PollingIntervalSeconds": "0.1",
    "OrchestratorSettings:StateDirectory": stateDirectory,
    "OrchestratorSettings:ShutdownGraceSeconds": "20",
    "ContainerSettings:StopGraceSeconds": "1",
    "LogSettings:FlushIntervalMs": "20",
    ...options.settings,
  }).map(([key, value]) => ({ key, value, flag: "--set" }));
  const { settings } = await loadSettings({ env: {}, flags });
  const daemon = await startDaemon(settings, { version: "test" });
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  try {
    await body({ api, daemon, settings, docker, stateDirectory });
  } finally {
    await daemon.shutdown();
    await api.close();
    await Deno.remove(stateDirectory, { recursive: true });
  }
}

/** Waits until the job has one of `statuses` on the API, or fails. */
export async function waitForStatus(
  api: ReferenceApi,
  jobId: string,
  statuses: JobStatus[],
  timeoutMs = JOB_WAIT_MS,
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: JobStatus | undefined;
  while (Date.now() < deadline) {
    last = api.getJob(jobId)?.status as JobStatus | undefined;
    if (last !== undefined && statuses.includes(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `Job ${jobId} did not reach ${statuses.join(" or ")} within ` +
      `${timeoutMs} ms; its status is ${last}`,
  );
}

/** Returns the lines of a job's log entries from one source, in order. */
export function logLines(
  api: ReferenceApi,
  jobId: string,
  source: "container" | "orchestrator",
  level?: string,
): string[] {
  return api.logs(jobId)
    .filter((entry) => entry.source === source)
    .filter((entry) => level === undefined || entry.level === level)
    .flatMap((entry) => entry.message.split("\n"));
}

/** Containers that carry the job's label, running or not. */
export async function containersOfJob(
  docker: Docker,
  jobId: string,
): Promise<Docker.ContainerInfo[]> {
  return await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.jobId}=${jobId}`] },
  });
}
