/**
 * The `reference-api` command: serves the reference IAM API until SIGINT
 * or SIGTERM and prints what happens on it, one line per event.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { ReferenceApiEvent } from "./events.ts";
import type { JobInput } from "./job_store.ts";
import { startReferenceApi } from "./server.ts";
import type { UserAccount } from "./token_store.ts";
import { VERSION } from "../version.ts";

/** Output functions of the command, and the signal that stops it. */
export interface ServeCommandIo {
  /** Prints one line of normal output. */
  print(line: string): void;
  /** Prints one line about an error. */
  printError(line: string): void;
  /** Stops the server when aborted. @default SIGINT or SIGTERM */
  signal?: AbortSignal;
  /** Reads a file as text. @default {Deno.readTextFile} */
  readTextFile?: (path: string) => Promise<string>;
}

const USAGE = `Usage: iam-orchestrator reference-api [options]

Serves an in-memory IAM API on loopback until Ctrl+C.

Options:
  --port N            port to listen on; 0 picks a free one (default 0)
  --host H            address to listen on (default 127.0.0.1)
  --jobs FILE.json    JSON array of jobs to start with
  --generation 1|2    server generation to imitate (default 1)
  --user NAME:PASS    account for the second generation's login; may be
                      repeated (default: user "orchestrator" with a random
                      password, printed at start)
  -h, --help          print this help`;

function shortId(id: string): string {
  return id.slice(0, 8);
}

/** Returns a one-line description of an event. */
export function formatEvent(event: ReferenceApiEvent): string {
  switch (event.type) {
    case "jobCreated":
      return `job ${event.jobId} created (${event.name || "unnamed"})`;
    case "jobUpdated":
      return `job ${event.jobId} changed by the test process`;
    case "jobDeleted":
      return `job ${event.jobId} deleted`;
    case "jobAssigned":
      return `job ${event.jobId} assigned to orchestrator ` +
        event.orchestratorId;
    case "statusChanged":
      return `job ${event.jobId} ${event.from} -> ${event.to}`;
    case "log":
      return `log ${shortId(event.jobId)} ${event.source} ${event.level}: ` +
        event.message;
    case "login":
      return event.succeeded
        ? `login of ${event.username} succeeded`
        : `login of ${event.username} failed`;
    case "unauthorized":
      return `401 for ${event.method} ${event.path}: missing or invalid token`;
    case "heartbeat":
      return `heartbeat from ${event.orchestratorId} (customer ` +
        `${event.customerName ?? "none"}, version ${event.version ?? "?"}, ` +
        `host ${event.hostName ?? "?"})`;
    case "updateRequested":
      return `update requested for orchestrator ${event.orchestratorId}`;
    case "updateAcknowledged":
      return `orchestrator ${event.orchestratorId} acknowledged the update`;
    case "certificateServed":
      return `certificate of customer ${event.customer} sent`;
    case "credentialsRefreshed":
      return `registry credentials of job ${event.jobId} refreshed`;
    case "fault":
      return `fault ${event.kind} injected on ${event.method} ${event.path}`;
  }
}

function parseUser(text: string): UserAccount {
  const colon = text.indexOf(":");
  if (colon <= 0) {
    throw new TypeError(
      `User "${text}" is invalid; pass --user NAME:PASSWORD`,
    );
  }
  return {
    username: text.slice(0, colon),
    password: text.slice(colon + 1),
    role: "Orchestrator",
  };
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new RangeError(
      `Port "${text}" is invalid; pass an integer from 0 to 65535`,
    );
  }
  return port;
}

function parseGeneration(text: string): 1 | 2 {
  if (text === "1") return 1;
  if (text === "2") return 2;
  throw new RangeError(`Generation "${text}" is invalid; pass 1 or 2`);
}

/** Reads a JSON array of jobs for the reference API from a file. */
export async function readJobs(
  path: string,
  readTextFile: (path: string) => Promise<string>,
): Promise<JobInput[]> {
  const text = await readTextFile(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TypeError(
      `Jobs file "${path}" is not valid JSON: ${(error as Error).message}`,
    );
  }
  const isObject = (item: unknown) =>
    typeof item === "object" && item !== null && !Array.isArray(item);
  if (!Array.isArray(value) || !value.every(isObject)) {
    throw new TypeError(
      `Jobs file "${path}" must contain a JSON array of job objects`,
    );
  }
  return value as JobInput[];
}

function stopSignal(io: ServeCommandIo): {
  signal: AbortSignal;
  dispose: () => void;
} {
  if (io.signal !== undefined) return { signal: io.signal, dispose: () => {} };
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  return {
    signal: controller.signal,
    dispose: () => {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
    },
  };
}

/**
 * Runs `iam-orchestrator reference-api [--port N] [--host H]
 * [--jobs FILE.json] [--generation 1|2] [--user NAME:PASS]`.
 *
 * @returns the exit code: 0 after a stop signal, 2 for invalid arguments,
 *   1 when the server cannot start
 */
export async function runServeCommand(
  args: readonly string[],
  io: ServeCommandIo,
): Promise<number> {
  let options;
  try {
    const { values } = parseArgs({
      args: [...args],
      options: {
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        jobs: { type: "string" },
        generation: { type: "string", default: "1" },
        user: { type: "string", multiple: true },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.version) {
      io.print(VERSION);
      return 0;
    }
    if (values.help) {
      io.print(USAGE);
      return 0;
    }
    options = {
      port: parsePort(values.port),
      hostname: values.host,
      generation: parseGeneration(values.generation),
      users: (values.user ?? []).map(parseUser),
      jobsFile: values.jobs,
    };
  } catch (error) {
    io.printError((error as Error).message);
    io.printError(USAGE);
    return 2;
  }

  let jobs: JobInput[] = [];
  if (options.jobsFile !== undefined) {
    try {
      jobs = await readJobs(
        options.jobsFile,
        io.readTextFile ?? Deno.readTextFile,
      );
    } catch (error) {
      io.printError(
        `Cannot read the jobs file: ${(error as Error).message}`,
      );
      return 2;
    }
  }

  const users = options.users;
  if (options.generation === 2 && users.length === 0) {
    const password = crypto.randomUUID();
    users.push({ username: "orchestrator", password, role: "Orchestrator" });
    io.print(`Log in as "orchestrator" with password "${password}"`);
  }

  const stop = stopSignal(io);
  let api;
  try {
    api = await startReferenceApi({
      hostname: options.hostname,
      port: options.port,
      generation: options.generation,
      users,
      jobs,
      onEvent: (event) => io.print(formatEvent(event)),
    });
  } catch (error) {
    stop.dispose();
    io.printError(
      `Cannot start the reference API on ${options.hostname}:` +
        `${options.port}: ${(error as Error).message}`,
    );
    return 1;
  }

  io.print(
    `Reference IAM API (generation ${api.generation}) listening on ` +
      `${api.url} with ${jobs.length} jobs; press Ctrl+C to stop`,
  );
  if (!stop.signal.aborted) {
    await new Promise((resolve) =>
      stop.signal.addEventListener("abort", resolve, { once: true })
    );
  }
  stop.dispose();
  await api.close();
  io.print("Reference IAM API stopped");
  return 0;
}
