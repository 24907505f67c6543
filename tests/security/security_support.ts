/**
 * Shared parts of the security tests: a second-generation reference API
 * with a login account, the private registry of tests/setup/registry.sh,
 * and capture of the daemon's own log records.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import type Docker from "dockerode";
import { configure, type LogRecord, reset, type Sink } from "@logtape/logtape";
import type {
  JobInput,
  ReferenceApiEvent,
} from "../../src/reference_api/server.ts";
import type { HarnessOptions } from "../support/harness.ts";
import { TEST_IMAGE } from "../support/jobs.ts";

/** Deno.test options of tests whose daemon outlives a single test step. */
export const integration = { sanitizeOps: false, sanitizeResources: false };

/** Customer of every job. A second-generation server requires one. */
export const CUSTOMER = "alpha";

/** The login account of the reference API. */
export const API_USER = {
  username: "iam-orchestrator",
  password: "api-password-4c1d9e",
  role: "Orchestrator",
} as const;

/**
 * The registry that tests/setup/registry.sh serves and the credentials
 * written there. The password doubles as a marker string: it must never
 * show up in a log.
 */
export const REGISTRY = {
  server: "127.0.0.1:5000",
  /** Repository and tag inside the registry. */
  image: "iam/busybox:1",
  /** The reference the engine stores after a pull. */
  pulledImage: "127.0.0.1:5000/iam/busybox:1",
  username: "iam-registry-user",
  password: "marker-registry-5b8e2d",
} as const;

/** Returns a one-off job for customer alpha that runs `script` in sh. */
export function shellJob(script: string, extra: JobInput = {}): JobInput {
  return {
    name: "security job",
    customer: CUSTOMER,
    containerImage: TEST_IMAGE,
    jobType: "OneOff",
    parameters: { RUN: script },
    ...extra,
  };
}

/** Options of {@linkcode secondGeneration}. */
export interface SecondGenerationOptions {
  /** The password the daemon sends. @default API_USER.password */
  password?: string;
  /** More daemon settings, `Section:Key` to value. */
  settings?: Record<string, string>;
  /** More reference API options. */
  api?: HarnessOptions["api"];
  /** Receives every event of the reference API. */
  events?: ReferenceApiEvent[];
}

/**
 * Builds harness options for a daemon that logs in to a second-generation
 * reference API as {@linkcode API_USER} and serves customer alpha.
 */
export function secondGeneration(
  options: SecondGenerationOptions = {},
): HarnessOptions {
  const events = options.events;
  return {
    settings: {
      "ApiSettings:Username": API_USER.username,
      "ApiSettings:Password": options.password ?? API_USER.password,
      "CustomerSettings:CustomerName": CUSTOMER,
      ...options.settings,
    },
    api: {
      generation: 2,
      users: [{ ...API_USER }],
      onEvent: events === undefined ? undefined : (event) => {
        events.push(event);
      },
      ...options.api,
    },
  };
}

let registryReady: Promise<void> | null = null;

/**
 * Runs tests/setup/registry.sh once per test process: it starts the
 * registry when none responds and pushes the test image into it.
 *
 * @throws {Error} with the script's standard error when it fails
 */
export function ensureRegistry(): Promise<void> {
  registryReady ??= (async () => {
    const script = new URL("../setup/registry.sh", import.meta.url).pathname;
    const result = await new Deno.Command("bash", {
      args: [script],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      const stderr = new TextDecoder().decode(result.stderr);
      throw new Error(
        `tests/setup/registry.sh failed with code ${result.code}: ${stderr}`,
      );
    }
  })();
  return registryReady;
}

/** Removes an image from the engine if it is there. */
export async function removeImage(
  docker: Docker,
  reference: string,
): Promise<void> {
  try {
    await docker.getImage(reference).remove({ force: true });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
  }
}

/** Returns true when the engine has an image with this reference. */
export async function hasImage(
  docker: Docker,
  reference: string,
): Promise<boolean> {
  try {
    await docker.getImage(reference).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

/** Encodes bytes as standard base64 with padding. */
export function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Renders a log record, message and properties, as a sink could write it. */
export function recordText(record: LogRecord): string {
  const message = record.message.map((part) =>
    typeof part === "string" ? part : stringify(part)
  ).join("");
  return `${record.category.join(".")} ${record.level} ${message} ${
    stringify(record.properties)
  }`;
}

function stringify(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(
      value,
      (_key, item) =>
        item instanceof Error
          ? { name: item.name, message: item.message, stack: item.stack }
          : item,
    ) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The daemon's log records kept by {@linkcode withLogCapture}. */
export interface LogCapture {
  readonly records: LogRecord[];
  /** Every record rendered by {@linkcode recordText}, one a line. */
  text(): string;
}

/**
 * Sends every record below the `iam-orchestrator` category, from trace up,
 * to a list while `body` runs, then resets LogTape.
 */
export async function withLogCapture(
  body: (capture: LogCapture) => Promise<void>,
): Promise<void> {
  const records: LogRecord[] = [];
  const sink: Sink = (record) => {
    records.push(record);
  };
  await configure({
    reset: true,
    sinks: { capture: sink },
    loggers: [
      {
        category: ["iam-orchestrator"],
        lowestLevel: "trace",
        sinks: ["capture"],
      },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  try {
    await body({
      records,
      text: () => records.map(recordText).join("\n"),
    });
  } finally {
    await reset();
  }
}

/** Counts the login events that succeeded or failed. */
export function countLogins(
  events: readonly ReferenceApiEvent[],
  succeeded: boolean,
): number {
  return events.filter((event) =>
    event.type === "login" && event.succeeded === succeeded
  ).length;
}
