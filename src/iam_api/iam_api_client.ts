/**
 * HTTP client for the IAM API, making the same calls as the previous .NET
 * orchestrator. Every request has a timeout and a cap on the size of the
 * response, and every response is validated before use.
 *
 * @module
 */
import {
  type Job,
  type JobStatus,
  type LogEntry,
  parseJob,
  peekScheduledJob,
  type ScheduledJobKey,
} from "./job.ts";
import { describeFetchError, excerpt, readLimited } from "./http_body.ts";

/** A failed API call. */
export class ApiError extends Error {
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  /** The call, such as `GET /api/jobs/pending`. */
  readonly endpoint: string;

  constructor(
    message: string,
    options: { status: number | null; endpoint: string; cause?: unknown },
  ) {
    super(message, { cause: options.cause });
    this.name = "ApiError";
    this.status = options.status;
    this.endpoint = options.endpoint;
  }

  /** True for failures that a later attempt may not meet: no response, 408, 429, 5xx. */
  get retryable(): boolean {
    return this.status === null || this.status === 408 ||
      this.status === 429 || this.status >= 500;
  }
}

/** A job in the pending list that failed validation. */
export interface MalformedJob {
  id: string | null;
  reason: string;
}

/** The pending list, split into usable and malformed jobs. */
export interface PendingJobs {
  jobs: Job[];
  malformed: MalformedJob[];
}

/** The body of `POST /api/orchestrators/heartbeat`. */
export interface Heartbeat {
  id: string;
  customerName: string | null;
  lastHeartbeat: string;
  version: string;
  hostName: string;
  pendingUpdate: boolean;
}

export interface IamApiClientOptions {
  /** Base URL without a trailing slash. */
  baseUrl: string;
  /**
   * Time allowed for one request, response included, in milliseconds.
   * @default {30000}
   */
  requestTimeoutMs?: number;
  /**
   * Maximum response size read, in bytes; a larger one fails the call.
   * @default {16777216}
   */
  maxResponseBytes?: number;
  /** Called after each request with its endpoint and status (null: none). */
  onResponse?: (endpoint: string, status: number | null) => void;
  /**
   * Sends the requests; the authenticating fetch of `ApiAuth` adds the
   * bearer token and logs in again after a 401.
   * @default {globalThis.fetch}
   */
  fetch?: (input: string | URL, init?: RequestInit) => Promise<Response>;
}

/** Calls the IAM API. */
export class IamApiClient {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #onResponse: IamApiClientOptions["onResponse"];
  readonly #fetch: NonNullable<IamApiClientOptions["fetch"]>;

  constructor(options: IamApiClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.#onResponse = options.onResponse;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /**
   * Fetches the pending jobs. `customer` null requests all customers.
   *
   * @throws {ApiError} when the call fails or the response is not a JSON array
   */
  async getPendingJobs(
    customer: string | null,
    orchestratorId: string,
    options: {
      /**
       * Returns true for a scheduled job that the caller has registered with
       * this schedule already. Such a record is left out of `jobs` and is
       * not validated.
       */
      isKnown?: (job: ScheduledJobKey) => boolean;
    } = {},
  ): Promise<PendingJobs> {
    const query = new URLSearchParams();
    if (customer !== null) query.set("customer", customer);
    query.set("orchestratorId", orchestratorId);
    const endpoint = "GET /api/jobs/pending";
    const { status, text } = await this.#request(
      endpoint,
      `/api/jobs/pending?${query}`,
    );
    if (status !== 200) throw this.#statusError(endpoint, status, text);
    const body = this.#parseJson(endpoint, status, text);
    if (!Array.isArray(body)) {
      throw new ApiError(
        `${endpoint} responded ${status} with JSON that is not an array: ` +
          excerpt(text),
        { status, endpoint },
      );
    }
    const jobs: Job[] = [];
    const malformed: MalformedJob[] = [];
    const seen = new Set<string>();
    for (const item of body) {
      if (options.isKnown !== undefined) {
        const key = peekScheduledJob(item);
        if (key !== null && !seen.has(key.id) && options.isKnown(key)) {
          seen.add(key.id);
          continue;
        }
      }
      const result = parseJob(item);
      if (!result.ok) {
        malformed.push({ id: result.id, reason: result.reason });
      } else if (seen.has(result.job.id)) {
        // The same id twice in one response: the first copy runs.
        malformed.push({
          id: null,
          reason: `job ${result.job.id} is listed twice in one response; ` +
            `the second copy is ignored`,
        });
      } else {
        seen.add(result.job.id);
        jobs.push(result.job);
      }
    }
    return { jobs, malformed };
  }

  /**
   * Fetches one job, or null when the server no longer has it (404).
   *
   * @throws {ApiError} when the call fails or the job is malformed
   */
  async getJob(id: string): Promise<Job | null> {
    const endpoint = "GET /api/jobs/{id}";
    const { status, text } = await this.#request(
      endpoint,
      `/api/jobs/${encodeURIComponent(id)}`,
    );
    if (status === 404) return null;
    if (status !== 200) throw this.#statusError(endpoint, status, text);
    const result = parseJob(this.#parseJson(endpoint, status, text));
    if (!result.ok) {
      throw new ApiError(
        `${endpoint} returned a malformed job ${id}: ${result.reason}`,
        { status, endpoint },
      );
    }
    return result.job;
  }

  /**
   * Sets a job's status; the body is a bare JSON string as the server takes it.
   *
   * @throws {ApiError} when the call fails; status 404 means the job is gone
   */
  async updateStatus(id: string, status: JobStatus): Promise<void> {
    const endpoint = "PATCH /api/jobs/{id}/status";
    const answer = await this.#request(
      endpoint,
      `/api/jobs/${encodeURIComponent(id)}/status`,
      { method: "PATCH", body: JSON.stringify(status) },
    );
    if (answer.status < 200 || answer.status > 299) {
      throw this.#statusError(endpoint, answer.status, answer.text);
    }
  }

  /**
   * Sends one log entry.
   *
   * @throws {ApiError} when the call fails
   */
  async postLog(entry: LogEntry): Promise<void> {
    const endpoint = "POST /api/logs";
    const answer = await this.#request(endpoint, "/api/logs", {
      method: "POST",
      body: JSON.stringify(entry),
    });
    if (answer.status < 200 || answer.status > 299) {
      throw this.#statusError(endpoint, answer.status, answer.text);
    }
  }

  /**
   * Sends a heartbeat.
   *
   * @returns false when the server has no heartbeat endpoint (404)
   * @throws {ApiError} on other failures
   */
  async sendHeartbeat(heartbeat: Heartbeat): Promise<boolean> {
    const endpoint = "POST /api/orchestrators/heartbeat";
    const answer = await this.#request(
      endpoint,
      "/api/orchestrators/heartbeat",
      { method: "POST", body: JSON.stringify(heartbeat) },
    );
    if (answer.status === 404) return false;
    if (answer.status < 200 || answer.status > 299) {
      throw this.#statusError(endpoint, answer.status, answer.text);
    }
    return true;
  }

  /**
   * Asks the server for new registry credentials of a job.
   *
   * @returns the job with its new credentials
   * @throws {ApiError} when the call fails; 400 means the job is neither
   *   Pending nor Running, 404 that the server has no such endpoint or job
   */
  async refreshCredentials(id: string): Promise<Job> {
    const endpoint = "POST /api/jobs/{id}/refresh-credentials";
    const { status, text } = await this.#request(
      endpoint,
      `/api/jobs/${encodeURIComponent(id)}/refresh-credentials`,
      { method: "POST" },
    );
    if (status !== 200) throw this.#statusError(endpoint, status, text);
    const result = parseJob(this.#parseJson(endpoint, status, text));
    if (!result.ok) {
      throw new ApiError(
        `${endpoint} returned a malformed job ${id}: ${result.reason}`,
        { status, endpoint },
      );
    }
    return result.job;
  }

  /**
   * Asks whether the server wants this orchestrator to restart for an
   * update.
   *
   * @returns null when the server has no such endpoint or does not know
   *   the orchestrator (404)
   */
  async getUpdateStatus(orchestratorId: string): Promise<boolean | null> {
    const endpoint = "GET /api/orchestrators/{id}/update-status";
    const { status, text } = await this.#request(
      endpoint,
      `/api/orchestrators/${encodeURIComponent(orchestratorId)}/update-status`,
    );
    if (status === 404) return null;
    if (status !== 200) throw this.#statusError(endpoint, status, text);
    const body = this.#parseJson(endpoint, status, text);
    if (typeof body !== "object" || body === null) {
      throw new ApiError(`${endpoint} responded with "${excerpt(text)}"`, {
        status,
        endpoint,
      });
    }
    const entry = Object.entries(body).find(([name]) =>
      name.toLowerCase() === "pendingupdate"
    );
    return entry?.[1] === true;
  }

  /** Acknowledges an update request. */
  async acknowledgeUpdate(orchestratorId: string): Promise<void> {
    const endpoint = "POST /api/orchestrators/{id}/update-ack";
    const answer = await this.#request(
      endpoint,
      `/api/orchestrators/${encodeURIComponent(orchestratorId)}/update-ack`,
      { method: "POST" },
    );
    if (answer.status < 200 || answer.status > 299) {
      throw this.#statusError(endpoint, answer.status, answer.text);
    }
  }

  #statusError(endpoint: string, status: number, text: string): ApiError {
    const body = text === "" ? "an empty body" : `"${excerpt(text)}"`;
    return new ApiError(`${endpoint} responded ${status} with ${body}`, {
      status,
      endpoint,
    });
  }

  #parseJson(endpoint: string, status: number, text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      const kind = /^\s*</.test(text) ? "HTML or XML" : "text that is not JSON";
      throw new ApiError(
        `${endpoint} responded ${status} with ${kind}: "${excerpt(text)}"`,
        { status, endpoint },
      );
    }
  }

  async #request(
    endpoint: string,
    path: string,
    init: { method?: string; body?: string } = {},
  ): Promise<{ status: number; text: string }> {
    const url = `${this.#baseUrl}${path}`;
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: init.method ?? "GET",
        body: init.body,
        headers: {
          "accept": "application/json",
          ...(init.body === undefined
            ? {}
            : { "content-type": "application/json" }),
        },
        // A redirect is a misconfigured URL or proxy, not a job list.
        redirect: "manual",
        signal,
      });
    } catch (error) {
      this.#onResponse?.(endpoint, null);
      throw new ApiError(
        `${endpoint} to ${this.#baseUrl} failed: ${describeFetchError(error)}`,
        { status: null, endpoint, cause: error },
      );
    }
    this.#onResponse?.(endpoint, response.status);
    let text: string;
    try {
      text = await readLimited(response, this.#maxResponseBytes);
    } catch (error) {
      throw new ApiError(
        `${endpoint} responded ${response.status} but reading the body ` +
          `failed: ${describeFetchError(error)}`,
        { status: null, endpoint, cause: error },
      );
    }
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location") ?? "nowhere";
      throw new ApiError(
        `${endpoint} responded ${response.status}, a redirect to ` +
          `${location}; check ApiSettings:BaseUrl`,
        { status: response.status, endpoint },
      );
    }
    return { status: response.status, text };
  }
}
