/**
 * Labels on every container the daemon starts, so that it can find its own
 * containers again after a restart and operators can filter them.
 *
 * @module
 */
import type { Job } from "../iam_api/job.ts";

/** Label keys, in reverse-DNS form as Docker recommends. */
export const LABELS = {
  managedBy: "io.iam-orchestrator.managed-by",
  orchestratorId: "io.iam-orchestrator.orchestrator-id",
  jobId: "io.iam-orchestrator.job-id",
  jobName: "io.iam-orchestrator.job-name",
  customer: "io.iam-orchestrator.customer",
} as const;

/** Returns the labels for a job's container. */
export function jobLabels(
  job: Job,
  orchestratorId: string,
): Record<string, string> {
  return {
    [LABELS.managedBy]: "iam-orchestrator",
    [LABELS.orchestratorId]: orchestratorId,
    [LABELS.jobId]: job.id,
    [LABELS.jobName]: job.name,
    [LABELS.customer]: job.customer,
  };
}
