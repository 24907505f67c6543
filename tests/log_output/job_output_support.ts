/**
 * Helpers of the end-to-end tests of job output: shell jobs for the test
 * image, the container output as the API stored it, and a capture of the
 * daemon's own LogTape records.
 *
 * @module
 */
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { JobInput, ReferenceApi } from "../../src/reference_api/server.ts";
import { TEST_IMAGE } from "../support/jobs.ts";

/**
 * Options of every test in this folder, because the daemon's engine
 * connections and timers outlive a single test step.
 */
export const integration = { sanitizeOps: false, sanitizeResources: false };

/** Settings that make the daemon ship output quickly. */
export const FAST_SHIPPING = {
  "LogSettings:FlushIntervalMs": "20",
  "ApiSettings:PollingIntervalSeconds": "0.1",
};

/** Returns a job of the test image that runs `script` in busybox `sh`. */
export function shellJob(script: string, extra: JobInput = {}): JobInput {
  return {
    name: "output job",
    customer: "alpha",
    containerImage: TEST_IMAGE,
    jobType: "OneOff",
    ...extra,
    parameters: { ...extra.parameters, RUN: script },
  };
}

/** Quotes a value for `sh`, so that it reaches the command unchanged. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/**
 * Returns the job's container output lines as `Level:line`, in the order the
 * API received them, split out of the entries that joined them.
 */
export function containerLines(api: ReferenceApi, jobId: string): string[] {
  return api.logs(jobId)
    .filter((entry) => entry.source === "container")
    .flatMap((entry) =>
      entry.message.split("\n").map((line) => `${entry.level}:${line}`)
    );
}

/** Returns the job's log entries of source container. */
export function containerEntries(api: ReferenceApi, jobId: string) {
  return api.logs(jobId).filter((entry) => entry.source === "container");
}

/**
 * Returns the 12-character container id from the job's "Container … started"
 * note, or fails when there is none.
 */
export function shortContainerId(api: ReferenceApi, jobId: string): string {
  for (const entry of api.logs(jobId)) {
    if (entry.source !== "orchestrator") continue;
    const match = /Container ([0-9a-f]{12}) started/.exec(entry.message);
    if (match !== null) return match[1];
  }
  throw new Error(`Job ${jobId} has no "Container … started" entry`);
}

/**
 * Routes every LogTape record of the daemon, at every level, to a list
 * while `body` runs, then resets LogTape.
 */
export async function withDaemonLog(
  body: (records: LogRecord[]) => Promise<void>,
): Promise<void> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { capture: (record) => records.push(record) },
    loggers: [
      {
        category: ["iam-orchestrator"],
        lowestLevel: "trace",
        sinks: ["capture"],
      },
      {
        category: ["logtape", "meta"],
        lowestLevel: "warning",
        sinks: ["capture"],
      },
    ],
  });
  try {
    await body(records);
  } finally {
    await reset();
  }
}

/** Returns the record's message with its values filled in. */
export function renderMessage(record: LogRecord): string {
  return record.message
    .map((part) => typeof part === "string" ? part : inspect(part))
    .join("");
}

/**
 * Returns all text of a record: category, rendered message and every
 * property, nested values and error causes included.
 */
export function renderRecord(record: LogRecord): string {
  return `${record.category.join(".")} ${renderMessage(record)} ${
    inspect(record.properties)
  }`;
}

function inspect(value: unknown): string {
  return Deno.inspect(value, {
    depth: Infinity,
    iterableLimit: Infinity,
    strAbbreviateSize: Infinity,
    colors: false,
  });
}
