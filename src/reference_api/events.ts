/**
 * Events the reference API reports to its `onEvent` callback, so that a
 * command can print what the orchestrator does.
 *
 * @module
 */
import type { JobStatus, LogLevel, LogSource } from "../iam_api/job.ts";
import type { FaultKind } from "./faults.ts";

/** Origin of a change: a request to the API, or the test process. */
export type ChangeOrigin = "request" | "test";

/** Something that happened on the reference API. */
export type ReferenceApiEvent =
  | { type: "jobCreated"; jobId: string; name: string; origin: ChangeOrigin }
  | { type: "jobUpdated"; jobId: string }
  | { type: "jobDeleted"; jobId: string; origin: ChangeOrigin }
  | { type: "jobAssigned"; jobId: string; orchestratorId: string }
  | {
    type: "statusChanged";
    jobId: string;
    from: JobStatus;
    to: JobStatus;
    origin: ChangeOrigin;
  }
  | {
    type: "log";
    jobId: string;
    level: LogLevel;
    source: LogSource;
    message: string;
  }
  | { type: "login"; username: string; succeeded: boolean }
  | { type: "unauthorized"; method: string; path: string }
  | {
    type: "heartbeat";
    orchestratorId: string;
    customerName: string | null;
    version: string | null;
    hostName: string | null;
  }
  | { type: "updateRequested"; orchestratorId: string }
  | { type: "updateAcknowledged"; orchestratorId: string }
  | { type: "certificateServed"; customer: string }
  | { type: "credentialsRefreshed"; jobId: string }
  | { type: "fault"; kind: FaultKind; method: string; path: string };
