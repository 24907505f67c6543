/**
 * Builders of jobs for tests.
 *
 * @module
 */
import type { Job } from "../../src/iam_api/job.ts";

/** Image built by tests/setup/build_test_images.sh. */
export const TEST_IMAGE = "iam-orchestrator-test/busybox:latest";

/** Returns a valid one-off job with every field set, changed by `overrides`. */
export function testJob(overrides: Partial<Job> = {}): Job {
  return {
    id: crypto.randomUUID(),
    name: "test job",
    customer: "alpha",
    scriptPath: "",
    containerImage: TEST_IMAGE,
    registryServer: null,
    registryUsername: null,
    registryPassword: null,
    parameters: {},
    jobType: "OneOff",
    isWhatIf: false,
    isPaused: false,
    schedule: null,
    status: "Pending",
    createdAt: null,
    startedAt: null,
    completedAt: null,
    scheduledFor: null,
    assignedToOrchestratorId: null,
    ...overrides,
  };
}
