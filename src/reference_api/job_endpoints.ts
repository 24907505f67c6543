/**
 * The endpoints that both server generations serve: pending jobs, one job,
 * status changes and log entries.
 *
 * @module
 */
import type { LogLevel, LogSource } from "../iam_api/job.ts";
import {
  empty,
  isRecord,
  json,
  jsonText,
  problem,
  queryParameter,
  readJsonBody,
  readProperty,
} from "./http_util.ts";
import { isGuid, parseStatus } from "./job_store.ts";
import type { LogRecord } from "./log_store.ts";
import type { ServerContext } from "./server_context.ts";

const LOG_LEVELS: readonly LogLevel[] = ["Info", "Warning", "Error", "Debug"];
const LOG_SOURCES: readonly LogSource[] = ["orchestrator", "container"];

function matchIgnoringCase<T extends string>(
  values: readonly T[],
  value: unknown,
): T | null {
  if (typeof value !== "string") return null;
  const lower = value.toLowerCase();
  for (const candidate of values) {
    if (candidate.toLowerCase() === lower) return candidate;
  }
  return null;
}

/** Returns a log entry in the JSON shape of the log endpoints. */
export function logEntryJson(record: LogRecord): Record<string, unknown> {
  return {
    id: record.sequence,
    jobId: record.jobId,
    message: record.message,
    level: record.level,
    source: record.source,
    timestamp: new Date(record.receivedAt).toISOString(),
  };
}

/** `GET /api/jobs/pending?customer=&orchestratorId=` */
export function getPendingJobs(
  context: ServerContext,
  query: string,
): Response {
  const customer = queryParameter(query, "customer") || null;
  if (context.generation === 1) {
    const { jobs } = context.jobs.pending({
      customer,
      orchestratorId: null,
      now: context.now(),
    });
    return jsonText(JSON.stringify(jobs));
  }

  const orchestratorId = queryParameter(query, "orchestratorId") || null;
  if (customer === null || orchestratorId === null) {
    return problem(
      400,
      "Missing query parameter",
      "Pass both customer and orchestratorId",
    );
  }
  if (context.orchestrators.get(orchestratorId) === undefined) {
    return problem(
      400,
      "Unknown orchestrator",
      `Orchestrator "${orchestratorId}" has sent no heartbeat; send ` +
        `POST /api/orchestrators/heartbeat first`,
    );
  }
  const { jobs, assigned } = context.jobs.pending({
    customer,
    orchestratorId,
    now: context.now(),
  });
  if (assigned !== null) {
    context.emit?.({ type: "jobAssigned", jobId: assigned.id, orchestratorId });
  }
  return jsonText(JSON.stringify(jobs));
}

/** `GET /api/jobs/{id}`; a path that is not a GUID matches no route. */
export function getJob(context: ServerContext, id: string | null): Response {
  const job = id !== null && isGuid(id) ? context.jobs.get(id) : undefined;
  if (job === undefined) return empty(404);
  return jsonText(JSON.stringify(job));
}

/** `PATCH /api/jobs/{id}/status` with a bare JSON string as the body. */
export async function patchJobStatus(
  context: ServerContext,
  id: string | null,
  request: Request,
): Promise<Response> {
  if (id === null || !isGuid(id)) {
    await request.body?.cancel();
    return empty(404);
  }

  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const value = body.value;

  // Integers are rejected: the server generations number enums differently.
  const status = typeof value === "string"
    ? parseStatus(value, { allowScheduled: context.generation === 2 })
    : null;
  if (status === null) {
    const allowed = context.generation === 2
      ? "Pending, Scheduled, Running, Completed, Failed"
      : "Pending, Running, Completed, Failed";
    return problem(
      400,
      "Invalid status",
      `Status ${JSON.stringify(value)} is unknown; send a JSON string, ` +
        `one of ${allowed}`,
    );
  }

  const job = context.jobs.get(id);
  if (job === undefined) return empty(404);
  const from = job.status;
  context.jobs.setStatus(job, status, context.now());
  context.emit?.({
    type: "statusChanged",
    jobId: job.id,
    from,
    to: status,
    origin: "request",
  });
  return jsonText(JSON.stringify(job));
}

/** `POST /api/logs` with one entry; returns 201 with the stored entry. */
export async function postLog(
  context: ServerContext,
  request: Request,
): Promise<Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  if (!isRecord(body.value)) {
    return problem(400, "Invalid log entry", "Send a JSON object");
  }

  const entry = body.value;
  const jobId = readProperty(entry, "jobId");
  const message = readProperty(entry, "message");
  const level = matchIgnoringCase(LOG_LEVELS, readProperty(entry, "level"));
  const source = matchIgnoringCase(LOG_SOURCES, readProperty(entry, "source"));
  if (typeof jobId !== "string" || !isGuid(jobId)) {
    return problem(
      400,
      "Invalid log entry",
      `jobId ${JSON.stringify(jobId)} is not a GUID string`,
    );
  }
  if (typeof message !== "string") {
    return problem(400, "Invalid log entry", "message must be a string");
  }
  if (level === null) {
    return problem(
      400,
      "Invalid log entry",
      `level ${JSON.stringify(readProperty(entry, "level"))} is unknown; ` +
        `expected one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  if (source === null) {
    return problem(
      400,
      "Invalid log entry",
      `source ${JSON.stringify(readProperty(entry, "source"))} is unknown; ` +
        `expected one of ${LOG_SOURCES.join(", ")}`,
    );
  }

  const job = context.jobs.get(jobId);
  if (job === undefined) {
    return problem(404, "Job not found", `Job "${jobId}" does not exist`);
  }
  const record = context.logs.append(
    { jobId: job.id, message, level, source },
    context.now(),
  );
  context.emit?.({ type: "log", jobId: job.id, level, source, message });
  return json(logEntryJson(record), 201);
}
