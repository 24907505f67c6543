/**
 * The endpoints that only the second server generation serves: login,
 * heartbeats, update requests, certificates and registry credentials.
 *
 * @module
 */
import {
  empty,
  isRecord,
  json,
  jsonText,
  problem,
  readJsonBody,
  readProperty,
} from "./http_util.ts";
import { isGuid, jobKey, type RegistryCredentials } from "./job_store.ts";
import type { ServerContext } from "./server_context.ts";

function optionalString(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** `POST /api/auth/login`; 401 with no body for wrong credentials. */
export async function postLogin(
  context: ServerContext,
  request: Request,
): Promise<Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const value = body.value;
  const username = isRecord(value) ? readProperty(value, "username") : null;
  const password = isRecord(value) ? readProperty(value, "password") : null;
  if (typeof username !== "string" || typeof password !== "string") {
    return problem(
      400,
      "Invalid login",
      'Send {"username": "...", "password": "..."}',
    );
  }
  const result = context.tokens.login(username, password, context.now());
  context.emit?.({ type: "login", username, succeeded: result !== null });
  if (result === null) return empty(401);
  return json(result);
}

/** `POST /api/orchestrators/heartbeat`; 200 with no body. */
export async function postHeartbeat(
  context: ServerContext,
  request: Request,
): Promise<Response> {
  const body = await readJsonBody(request);
  if (!body.ok) return body.response;
  const value = body.value;
  const id = isRecord(value) ? readProperty(value, "id") : null;
  if (!isRecord(value) || typeof id !== "string" || id === "") {
    return problem(
      400,
      "Invalid heartbeat",
      "Send a JSON object with the orchestrator id as a string",
    );
  }
  const record = context.orchestrators.heartbeat({
    id,
    customerName: optionalString(readProperty(value, "customerName")),
    version: optionalString(readProperty(value, "version")),
    hostName: optionalString(readProperty(value, "hostName")),
    lastHeartbeat: optionalString(readProperty(value, "lastHeartbeat")),
  }, context.now());
  context.emit?.({
    type: "heartbeat",
    orchestratorId: record.id,
    customerName: record.customerName,
    version: record.version,
    hostName: record.hostName,
  });
  return empty(200);
}

/** `GET /api/orchestrators/{id}/update-status` */
export function getUpdateStatus(
  context: ServerContext,
  id: string | null,
): Response {
  const record = id === null ? undefined : context.orchestrators.get(id);
  if (record === undefined) return empty(404);
  return json({ pendingUpdate: record.pendingUpdate });
}

/** `POST /api/orchestrators/{id}/update-ack`; 200 with no body. */
export async function postUpdateAck(
  context: ServerContext,
  id: string | null,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  if (id === null || !context.orchestrators.acknowledge(id)) return empty(404);
  context.emit?.({ type: "updateAcknowledged", orchestratorId: id });
  return empty(200);
}

/** `GET /api/certificates/{customer}` */
export function getCertificate(
  context: ServerContext,
  customer: string | null,
): Response {
  const certificate = customer === null
    ? undefined
    : context.certificates.get(customer.toLowerCase());
  if (certificate === undefined) return empty(404);
  context.emit?.({
    type: "certificateServed",
    customer: certificate.customerName,
  });
  return json({
    customerName: certificate.customerName,
    certificateData: certificate.certificateData,
    thumbprint: certificate.thumbprint,
    expiresAt: certificate.expiresAt,
    password: certificate.password,
  });
}

function defaultCredentials(
  job: { registryServer: string | null; registryUsername: string | null },
): RegistryCredentials {
  return {
    registryServer: job.registryServer,
    registryUsername: job.registryUsername,
    registryPassword: `refreshed-${crypto.randomUUID()}`,
  };
}

/**
 * `POST /api/jobs/{id}/refresh-credentials`: writes new registry
 * credentials into a `Pending` or `Running` job and returns it. The
 * credentials come from those set for the job, else from the configured
 * source, else the job keeps its server and user name and gets a random
 * password.
 */
export async function postRefreshCredentials(
  context: ServerContext,
  id: string | null,
  request: Request,
): Promise<Response> {
  await request.body?.cancel();
  const job = id !== null && isGuid(id) ? context.jobs.get(id) : undefined;
  if (job === undefined) return empty(404);
  if (job.status !== "Pending" && job.status !== "Running") {
    return problem(
      400,
      "Job not active",
      `Job "${job.id}" is ${job.status}; credentials are refreshed only ` +
        `for Pending or Running jobs`,
    );
  }
  const credentials = context.credentials.get(jobKey(job.id)) ??
    context.credentialSource?.(job) ??
    defaultCredentials(job);
  if (credentials.registryServer !== undefined) {
    job.registryServer = credentials.registryServer;
  }
  job.registryUsername = credentials.registryUsername;
  job.registryPassword = credentials.registryPassword;
  context.emit?.({ type: "credentialsRefreshed", jobId: job.id });
  return jsonText(JSON.stringify(job));
}
