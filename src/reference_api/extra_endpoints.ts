/**
 * Endpoints that the IAM API does not have, for people and for tests that
 * run the orchestrator as a subprocess: job management, the received log
 * entries, update requests, fault rules and the login page that `redirect`
 * faults point to. None of them needs a token.
 *
 * @module
 */
import { validateFaultRule } from "./faults.ts";
import {
  empty,
  isRecord,
  json,
  jsonText,
  problem,
  queryParameter,
  readJsonBody,
} from "./http_util.ts";
import { JOB_STATUSES, JOB_TYPES } from "../iam_api/job.ts";
import { isGuid, type JobInput } from "./job_store.ts";
import { logEntryJson } from "./job_endpoints.ts";
import type { ServerContext } from "./server_context.ts";

/** `GET /api/jobs`: every job in creation order. */
export function listJobs(context: ServerContext): Response {
  return jsonText(JSON.stringify([...context.jobs.all()]));
}

function findInvalidEnum(input: Record<string, unknown>): string | null {
  for (const [name, value] of Object.entries(input)) {
    const lower = name.toLowerCase();
    const allowed = lower === "status"
      ? JOB_STATUSES
      : lower === "jobtype"
      ? JOB_TYPES
      : null;
    if (allowed === null || typeof value !== "string") continue;
    if (!allowed.some((v) => v.toLowerCase() === value.toLowerCase())) {
      return `${name} "${value}" is unknown; expected one of ${
        allowed.join(", ")
      }`;
    }
  }
  return null;
}

/** `POST /api/jobs`: creates a job from a partial job object (201). */
export async function createJob(
  context: ServerContext,
  request: Request,
): Promise<Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  if (!isRecord(body.value)) {
    return problem(400, "Invalid job", "Send a JSON object");
  }
  const invalid = findInvalidEnum(body.value);
  if (invalid !== null) return problem(400, "Invalid job", invalid);
  try {
    const job = context.jobs.add(body.value as JobInput, context.now());
    context.emit?.({
      type: "jobCreated",
      jobId: job.id,
      name: job.name,
      origin: "request",
    });
    const response = jsonText(JSON.stringify(job), 201);
    response.headers.set("location", `/api/jobs/${job.id}`);
    return response;
  } catch (error) {
    if (error instanceof RangeError) {
      return problem(409, "Job exists", error.message);
    }
    if (error instanceof TypeError) {
      return problem(400, "Invalid job", error.message);
    }
    throw error;
  }
}

/** `DELETE /api/jobs/{id}`: 204, or 404 for an unknown job. */
export function deleteJob(context: ServerContext, id: string | null): Response {
  if (id === null || !isGuid(id) || !context.jobs.delete(id)) {
    return empty(404);
  }
  context.emit?.({ type: "jobDeleted", jobId: id, origin: "request" });
  return empty(204);
}

/**
 * `GET /api/logs?jobId=`: the entries of one job, or of all jobs, in
 * arrival order. Empty when the server keeps only statistics.
 */
export function listLogs(context: ServerContext, query: string): Response {
  const jobId = queryParameter(query, "jobId") || undefined;
  return json(context.logs.entries(jobId).map(logEntryJson));
}

/** `POST /api/orchestrators/{id}/request-update` (second generation). */
export async function postRequestUpdate(
  context: ServerContext,
  id: string | null,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  if (id === null) return empty(404);
  context.orchestrators.requestUpdate(id);
  context.emit?.({ type: "updateRequested", orchestratorId: id });
  return empty(200);
}

/** `GET /Account/Login`: an HTML page, where `redirect` faults lead. */
export function getLoginPage(): Response {
  return new Response(
    "<!DOCTYPE html>\n<html><head><title>Log in</title></head><body>" +
      '<form method="post"><input name="username"><input name="password" ' +
      'type="password"><button>Log in</button></form></body></html>\n',
    { status: 200, headers: { "content-type": "text/html; charset=utf-8" } },
  );
}

/**
 * `/_faults`: GET lists the rules in force, POST adds one (201 with its
 * id), DELETE removes all of them or, with `?id=`, one (204).
 */
export async function handleFaultAdmin(
  context: ServerContext,
  request: Request,
  query: string,
): Promise<Response> {
  if (request.method === "GET") return json(context.faults.list());
  if (request.method === "DELETE") {
    await request.body?.cancel();
    const id = queryParameter(query, "id");
    if (id === null) {
      context.faults.clear();
      return empty(204);
    }
    return empty(context.faults.remove(id) ? 204 : 404);
  }
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  try {
    const id = context.faults.add(validateFaultRule(body.value));
    return json({ id }, 201);
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      return problem(400, "Invalid fault rule", error.message);
    }
    throw error;
  }
}
