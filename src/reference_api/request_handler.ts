/**
 * The reference API's request pipeline: route, count, apply fault rules,
 * check the bearer token, then run the endpoint.
 *
 * @module
 */
import {
  createJob,
  deleteJob,
  getLoginPage,
  handleFaultAdmin,
  listJobs,
  listLogs,
  postRequestUpdate,
} from "./extra_endpoints.ts";
import {
  DEFAULT_DELAY_MS,
  dropResponse,
  faultResponse,
  waitForDelay,
} from "./fault_responses.ts";
import { empty, splitUrl } from "./http_util.ts";
import {
  getJob,
  getPendingJobs,
  patchJobStatus,
  postLog,
} from "./job_endpoints.ts";
import { resolveRoute, type Route } from "./routes.ts";
import {
  getCertificate,
  getUpdateStatus,
  postHeartbeat,
  postLogin,
  postRefreshCredentials,
  postUpdateAck,
} from "./second_generation_endpoints.ts";
import type { ServerContext } from "./server_context.ts";

/** Handles one request. Fault rules never apply to `/_faults`. */
export async function handleRequest(
  context: ServerContext,
  request: Request,
): Promise<Response> {
  const { path, query } = splitUrl(request.url);
  const method = request.method;
  const route = resolveRoute(method, path, context.generation);
  context.counters[route.endpoint]++;

  if (route.endpoint !== "faultAdmin") {
    const rule = context.faults.take(method, path);
    if (rule !== undefined) {
      context.emit?.({ type: "fault", kind: rule.kind, method, path });
      context.logger.debug("Injected fault {kind} on {method} {path}", {
        kind: rule.kind,
        method,
        path,
      });
      if (rule.kind !== "delay") {
        await request.body?.cancel();
        return faultResponse(rule, {
          path,
          open: context.open,
        });
      }
      const elapsed = await waitForDelay(
        rule.delayMs ?? DEFAULT_DELAY_MS,
        context.open,
      );
      if (!elapsed) {
        await request.body?.cancel();
        return dropResponse();
      }
    }
  }

  if (route.needsToken) {
    const check = context.tokens.check(
      request.headers.get("authorization"),
      context.now(),
    );
    if (check !== "valid") {
      await request.body?.cancel();
      context.emit?.({ type: "unauthorized", method, path });
      return empty(401, {
        "www-authenticate": check === "missing"
          ? "Bearer"
          : 'Bearer error="invalid_token"',
      });
    }
  }

  const response = await dispatch(context, route, request, query);
  if (response.status >= 400) {
    context.logger.debug("{method} {path} rejected with {status}", {
      method,
      path,
      status: response.status,
      endpoint: route.endpoint,
    });
  }
  return response;
}

async function dispatch(
  context: ServerContext,
  route: Route,
  request: Request,
  query: string,
): Promise<Response> {
  const id = route.parameter;
  switch (route.endpoint) {
    case "pendingJobs":
      return getPendingJobs(context, query);
    case "getJob":
      return getJob(context, id);
    case "patchStatus":
      return await patchJobStatus(context, id, request);
    case "postLog":
      return await postLog(context, request);
    case "login":
      return await postLogin(context, request);
    case "heartbeat":
      return await postHeartbeat(context, request);
    case "updateStatus":
      return getUpdateStatus(context, id);
    case "updateAck":
      return await postUpdateAck(context, id, request);
    case "requestUpdate":
      return await postRequestUpdate(context, id, request);
    case "certificate":
      return getCertificate(context, id);
    case "refreshCredentials":
      return await postRefreshCredentials(context, id, request);
    case "listJobs":
      return listJobs(context);
    case "createJob":
      return await createJob(context, request);
    case "deleteJob":
      return deleteJob(context, id);
    case "listLogs":
      return listLogs(context, query);
    case "loginPage":
      return getLoginPage();
    case "faultAdmin":
      return await handleFaultAdmin(context, request, query);
    case "methodNotAllowed":
      await request.body?.cancel();
      return empty(405);
    case "notFound":
      await request.body?.cancel();
      return empty(404);
  }
}
