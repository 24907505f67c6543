/**
 * Helpers of the fault-injection tests: numbered shell jobs, a capture of
 * the daemon's LogTape records, container creations watched on the engine's
 * event stream, a proxy that rewrites the pending-jobs response, and a daemon
 * run as a child process against the reference API.
 *
 * @module
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { loadSettings } from "../../src/config/load_settings.ts";
import {
  type RunningDaemon,
  startDaemon,
} from "../../src/daemon/start_daemon.ts";
import { LABELS } from "../../src/execution/job_labels.ts";
import {
  type JobInput,
  type ReferenceApi,
  type ReferenceApiEvent,
  startReferenceApi,
} from "../../src/reference_api/server.ts";
import {
  type DaemonProcess,
  spawnDaemon,
  waitUntil,
} from "../support/daemon_process.ts";
import { logLines, waitForStatus } from "../support/harness.ts";
import { TEST_IMAGE } from "../support/jobs.ts";

/** Test options for tests whose daemon keeps timers and sockets between steps. */
export const integration = { sanitizeOps: false, sanitizeResources: false };

/** Returns a Docker client of the local engine. */
export function localDocker(): Docker {
  return new Docker({ socketPath: "/var/run/docker.sock" });
}

/** Returns a one-off job of the test image that runs `script` in a shell. */
export function shellJob(script: string, extra: JobInput = {}): JobInput {
  return {
    name: "reliability job",
    customer: "alpha",
    containerImage: TEST_IMAGE,
    jobType: "OneOff",
    parameters: { RUN: script },
    ...extra,
  };
}

/** Options of {@linkcode numberedScript}. */
export interface NumberedScriptOptions {
  /** Seconds between two lines. @default {0.1} */
  pauseSeconds?: number;
  /**
   * Every this many lines the script sleeps `burstPauseSeconds` instead,
   * so that a test can act while no output is on its way. @default {0}, off
   */
  burstLines?: number;
  /** Pause after a burst, in seconds. @default {1} */
  burstPauseSeconds?: number;
  /** Exit code of the script. @default {0} */
  exitCode?: number;
}

/**
 * Returns a shell snippet that prints `line 1` to `line <count>` on stdout
 * and exits. It exits at once on SIGTERM, because a shell that runs as PID 1
 * ignores that signal otherwise.
 */
export function numberedScript(
  count: number,
  options: NumberedScriptOptions = {},
): string {
  const pause = options.pauseSeconds ?? 0.1;
  const burst = options.burstLines ?? 0;
  const burstPause = options.burstPauseSeconds ?? 1;
  const wait = burst > 0
    ? `if [ $((i % ${burst})) -eq 0 ]; then sleep ${burstPause}; ` +
      `else sleep ${pause}; fi`
    : `sleep ${pause}`;
  return `trap 'exit 143' TERM; for i in $(seq 1 ${count}); do ` +
    `echo "line $i"; ${wait}; done; exit ${options.exitCode ?? 0}`;
}

/** Returns `line 1` to `line <count>`. */
export function expectedLines(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `line ${i + 1}`);
}

/** Returns the job's container lines that read `line N`, in arrival order. */
export function numberedLines(api: ReferenceApi, jobId: string): string[] {
  return logLines(api, jobId, "container").filter((line) =>
    /^line \d+$/.test(line)
  );
}

/** Returns the job's orchestrator notes joined by newlines. */
export function notesOf(api: ReferenceApi, jobId: string): string {
  return logLines(api, jobId, "orchestrator").join("\n");
}

/**
 * Waits until the API has received at least `count` numbered lines of the
 * job, within `timeoutMs`.
 */
export async function waitForLines(
  api: ReferenceApi,
  jobId: string,
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  await waitUntil(
    () => numberedLines(api, jobId).length >= count,
    `${count} output lines of job ${jobId}`,
    timeoutMs,
  );
}

/** A live subscription to the engine's container creations of one job. */
export interface CreationWatch {
  /** Ids of the containers created since the watch started. */
  ids(): string[];
  /** Ends the subscription. */
  stop(): Promise<void>;
}

/**
 * Subscribes to the engine's `create` events of containers with the job's
 * label, so a container that was created and removed again counts too.
 * The subscription is live because the engine serves past events from a
 * short in-memory buffer, which other work on the same engine can
 * overwrite.
 */
export async function watchCreations(
  docker: Docker,
  jobId: string,
): Promise<CreationWatch> {
  const stream = await docker.getEvents({
    filters: {
      type: ["container"],
      event: ["create"],
      label: [`${LABELS.jobId}=${jobId}`],
    },
  }) as unknown as AsyncIterable<Uint8Array> & { destroy(): void };
  const ids = new Set<string>();
  const decoder = new TextDecoder();
  const reading = (async () => {
    let text = "";
    try {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        const lines = text.split("\n");
        text = lines.pop() ?? "";
        for (const line of lines) {
          if (line.trim() !== "") {
            ids.add((JSON.parse(line) as { id: string }).id);
          }
        }
      }
    } catch {
      // Destroying the stream ends the iteration with an error.
    }
  })();
  return {
    ids: () => [...ids],
    stop: async () => {
      stream.destroy();
      await reading;
    },
  };
}

/** Removes every container of the job, running or not. */
export async function removeJobContainers(
  docker: Docker,
  jobId: string,
): Promise<void> {
  const containers = await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.jobId}=${jobId}`] },
  });
  for (const info of containers) {
    await docker.getContainer(info.Id).remove({ force: true })
      .catch(() => {});
  }
}

/** Captured LogTape records of the daemon, without the reference API's. */
export interface CapturedLogs {
  readonly records: LogRecord[];
  /** Rendered messages of the records at `warning` level or above. */
  problems(): string[];
  /** Rendered messages of every record. */
  messages(): string[];
}

/** Renders a record's message with its values filled in. */
export function renderMessage(record: LogRecord): string {
  return record.message
    .map((part, index) =>
      index % 2 === 0 || typeof part === "string"
        ? String(part)
        : JSON.stringify(part)
    )
    .join("");
}

const PROBLEM_LEVELS = new Set(["warning", "error", "fatal"]);

/**
 * Sends the daemon's LogTape records to a list for the length of `body`,
 * then resets LogTape. Records of the reference API are left out.
 */
export async function withCapturedLogs(
  body: (logs: CapturedLogs) => Promise<void>,
): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: {
      test: (record: LogRecord) => {
        if (record.category[1] !== "reference-api") records.push(record);
      },
    },
    loggers: [
      { category: ["iam-orchestrator"], lowestLevel: "debug", sinks: ["test"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  const logs: CapturedLogs = {
    records,
    problems: () =>
      records.filter((record) => PROBLEM_LEVELS.has(record.level))
        .map(renderMessage),
    messages: () => records.map(renderMessage),
  };
  try {
    await body(logs);
  } finally {
    await reset();
  }
}

/** Collects the reference API's events of every job. */
export class EventLog {
  readonly events: ReferenceApiEvent[] = [];

  /** The callback to pass as `onEvent` to the reference API. */
  readonly onEvent = (event: ReferenceApiEvent): void => {
    this.events.push(event);
  };

  /** Returns the job's log and status events in the order the API got them. */
  ofJob(jobId: string): ReferenceApiEvent[] {
    return this.events.filter((event) =>
      (event.type === "log" || event.type === "statusChanged") &&
      event.jobId === jobId
    );
  }
}

/**
 * Asserts that the job's last status change is to `status` and that it
 * arrived after every log entry of the job.
 */
export function assertStatusLast(
  events: EventLog,
  jobId: string,
  status: "Completed" | "Failed",
): void {
  const ofJob = events.ofJob(jobId);
  const last = ofJob.at(-1);
  assert.equal(last?.type, "statusChanged", "the last event is no status");
  assert.equal(last.type === "statusChanged" ? last.to : null, status);
  const statusChanges = ofJob.filter((event) =>
    event.type === "statusChanged" && event.to === status
  );
  assert.equal(statusChanges.length, 1, `${status} was sent more than once`);
}

/** A loopback proxy in front of the reference API. */
export interface PendingProxy {
  /** Base URL for `ApiSettings:BaseUrl`. */
  readonly url: string;
  /**
   * Replaces the body of `GET /api/jobs/pending`: gets the reference API's
   * jobs and returns the text to send, or null to send them unchanged.
   */
  rewrite: ((jobs: Record<string, unknown>[]) => string | null) | null;
  /** Responses of `GET /api/jobs/pending` that `rewrite` changed. */
  readonly rewritten: number;
  close(): Promise<void>;
}

/**
 * Starts a proxy that forwards every request to `upstream` and lets a test
 * rewrite the pending-jobs response into shapes the reference API cannot
 * produce: an object in place of the list, a job without an id, the same
 * job twice, a status the server does not know.
 */
export function startPendingProxy(upstream: string): PendingProxy {
  let rewritten = 0;
  const proxy: PendingProxy = {
    url: "",
    rewrite: null,
    get rewritten() {
      return rewritten;
    },
    close: async () => {
      await server.shutdown();
    },
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const target = `${upstream}${url.pathname}${url.search}`;
      const response = await fetch(target, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        redirect: "manual",
      });
      const rewrite = proxy.rewrite;
      const isPending = request.method === "GET" &&
        url.pathname.toLowerCase() === "/api/jobs/pending";
      if (!isPending || rewrite === null || response.status !== 200) {
        return new Response(response.body, {
          status: response.status,
          headers: response.headers,
        });
      }
      const jobs = await response.json() as Record<string, unknown>[];
      const body = rewrite(jobs);
      if (body === null) return Response.json(jobs);
      rewritten++;
      return new Response(body, {
        status: 200,
        headers: { "content-type": "application/json; charset=utf-8" },
      });
    },
  );
  (proxy as { url: string }).url = `http://127.0.0.1:${server.addr.port}`;
  return proxy;
}

/** Returns the settings of a daemon child process against the reference API. */
function childSettings(
  apiUrl: string,
  stateDirectory: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    "ApiSettings:BaseUrl": apiUrl,
    "ApiSettings:PollingIntervalSeconds": "0.1",
    "OrchestratorSettings:StateDirectory": stateDirectory,
    "ContainerSettings:StopGraceSeconds": "1",
    "LogSettings:FlushIntervalMs": "20",
    "Logging:Level": "Debug",
    ...extra,
  };
}

/**
 * Starts `iam-orchestrator run` as a child process against the reference
 * API, with the state in `stateDirectory`.
 */
export function startChildDaemon(
  api: ReferenceApi,
  stateDirectory: string,
  extra: Record<string, string> = {},
): DaemonProcess {
  return spawnDaemon(childSettings(api.url, stateDirectory, extra));
}

/** Kills a daemon child process with SIGKILL and waits for its end. */
export async function killDaemon(daemon: DaemonProcess): Promise<void> {
  try {
    daemon.child.kill("SIGKILL");
  } catch {
    // It has exited already.
  }
  await daemon.exited;
}

/** Waits for a final status and returns it. */
export async function waitForEnd(
  api: ReferenceApi,
  jobId: string,
  timeoutMs?: number,
): Promise<string> {
  return await waitForStatus(api, jobId, ["Completed", "Failed"], timeoutMs);
}

/** Returns the short ids of the containers in "Container … started" notes. */
export function startedContainerIds(notes: string): string[] {
  return [...notes.matchAll(/Container ([0-9a-f]{12}) started/g)]
    .map((match) => match[1]);
}

/** Returns the short ids of the containers in "resumes container …" notes. */
export function resumedContainerIds(notes: string): string[] {
  return [...notes.matchAll(/resumes container ([0-9a-f]{12})/g)]
    .map((match) => match[1]);
}

/** What a test behind the pending-jobs proxy drives and observes. */
export interface ProxiedHarness {
  api: ReferenceApi;
  proxy: PendingProxy;
  daemon: RunningDaemon;
}

/**
 * Starts the reference API, a {@linkcode startPendingProxy} in front of it
 * and an in-process daemon polling the proxy, runs `body`, then stops all
 * three. The settings are those of `withHarness`, changed by `settings`.
 */
export async function withProxiedHarness(
  settings: Record<string, string>,
  body: (harness: ProxiedHarness) => Promise<void>,
): Promise<void> {
  const api = await startReferenceApi();
  const proxy = startPendingProxy(api.url);
  const stateDirectory = await Deno.makeTempDir({ prefix: "iam-state-" });
  try {
    const flags = Object.entries({
      "ApiSettings:BaseUrl": proxy.url,
      "ApiSettings:PollingIntervalSeconds": "0.1",
      "OrchestratorSettings:StateDirectory": stateDirectory,
      "OrchestratorSettings:ShutdownGraceSeconds": "20",
      "ContainerSettings:StopGraceSeconds": "1",
      "LogSettings:FlushIntervalMs": "20",
      ...settings,
    }).map(([key, value]) => ({ key, value, flag: "--set" }));
    const loaded = await loadSettings({ env: {}, flags });
    const daemon = await startDaemon(loaded.settings, { version: "test" });
    try {
      await body({ api, proxy, daemon });
    } finally {
      await daemon.shutdown();
    }
  } finally {
    await proxy.close();
    await api.close();
    await Deno.remove(stateDirectory, { recursive: true });
  }
}

/** Waits for a daemon child process to exit and returns its exit code. */
export async function waitForExit(
  daemon: DaemonProcess,
  timeoutMs: number,
): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`The daemon did not exit within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([daemon.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Returns a container's state, such as `running` or `exited`, or null. */
export async function containerState(
  docker: Docker,
  containerId: string,
): Promise<string | null> {
  try {
    return (await docker.getContainer(containerId).inspect()).State.Status;
  } catch {
    return null;
  }
}

/**
 * Asserts that `received` contains every expected line in order, and that any
 * repeat is one block sent again: the single entry in flight when the
 * daemon was killed, which the outbox delivers at least once.
 */
export function assertNoneLostAtMostOneRepeat(
  received: string[],
  expected: string[],
): void {
  const numbers = received.map((line) => Number(line.split(" ")[1]));
  let backwardJumps = 0;
  for (let i = 1; i < numbers.length; i++) {
    if (numbers[i] <= numbers[i - 1]) backwardJumps++;
  }
  assert.ok(
    backwardJumps <= 1,
    `lines were repeated more than once or out of order: ${numbers}`,
  );
  assert.deepEqual([...new Set(received)], expected);
}

/** Returns the job's status changes received by the API, in order. */
export function statusChanges(events: EventLog, jobId: string): string[] {
  return events.ofJob(jobId).flatMap((event) =>
    event.type === "statusChanged" ? [event.to] : []
  );
}

/** Lines of each daemon's output kept in a failure message. */
const OUTPUT_TAIL_LINES = 40;

/**
 * Returns an error with the last lines each daemon child process logged
 * appended to the message of `error`, so a failure shows what the daemons
 * did.
 */
export function withDaemonOutput(
  error: unknown,
  daemons: DaemonProcess[],
): Error {
  const tails = daemons.map((daemon, index) => {
    const lines = daemon.output().trimEnd().split("\n");
    return `--- daemon ${index + 1}, last ${OUTPUT_TAIL_LINES} lines ---\n` +
      lines.slice(-OUTPUT_TAIL_LINES).join("\n");
  });
  const message = error instanceof Error ? error.message : String(error);
  return new Error([message, ...tails].join("\n"), { cause: error });
}

/** One JSON log line of a daemon child process. */
export interface DaemonRecord {
  level: string;
  message: string;
  logger: string;
  [property: string]: unknown;
}

/** Returns the JSON log lines a daemon child process has written so far. */
export function daemonRecords(daemon: DaemonProcess): DaemonRecord[] {
  return daemon.output().split("\n")
    .filter((line) => line.startsWith("{"))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as DaemonRecord];
      } catch {
        return [];
      }
    });
}

/** Returns the `state` of the daemon's "Resuming job" records of a job. */
export function resumedStates(daemon: DaemonProcess, jobId: string): unknown[] {
  return daemonRecords(daemon)
    .filter((record) =>
      record.message.startsWith("Resuming job") && record.jobId === jobId
    )
    .map((record) => record.state);
}
