/**
 * Reading a swarm task's status as the end of a run.
 *
 * Task states follow the swarm's life cycle (Docker Engine API 1.41). The
 * states `new`, `pending` and `allocated` come before the scheduler assigns
 * a node, and `assigned` to `running` happen on the node. The states
 * `complete`, `failed`, `shutdown`, `rejected`, `orphaned` and `remove` are
 * final.
 *
 * @module
 */

/** The fields of a task (`GET /tasks`) that a run needs. */
export interface SwarmTask {
  ID: string;
  CreatedAt?: string;
  DesiredState?: string;
  Status?: {
    State?: string;
    Message?: string;
    Err?: string;
    ContainerStatus?: { ContainerID?: string; ExitCode?: number };
  };
}

/** The outcome of a task's status for its run. */
export type TaskVerdict =
  | { ended: false }
  | {
    ended: true;
    /** The container's exit code, or -1 when no container ran or exited. */
    exitCode: number;
    error: string | null;
    /** ID of the task's container, or null when none was created. */
    containerId: string | null;
  };

const FINAL_STATES = new Set([
  "complete",
  "failed",
  "shutdown",
  "rejected",
  "orphaned",
  "remove",
]);

/** Returns true when the task has reached a final state. */
export function isFinal(task: SwarmTask): boolean {
  return FINAL_STATES.has(task.Status?.State ?? "new");
}

/** States in which no node has taken the task yet. */
const UNSCHEDULED_STATES = new Set(["new", "pending", "allocated"]);

/** Returns true when no node has been assigned the task yet. */
export function isUnscheduled(task: SwarmTask): boolean {
  return UNSCHEDULED_STATES.has(task.Status?.State ?? "new");
}

/** Returns the most recently created task, or null for none. */
export function latestTask(tasks: SwarmTask[]): SwarmTask | null {
  let latest: SwarmTask | null = null;
  for (const task of tasks) {
    if (latest === null || (task.CreatedAt ?? "") > (latest.CreatedAt ?? "")) {
      latest = task;
    }
  }
  return latest;
}

/**
 * Decides whether a task has ended.
 *
 * A task that stayed unscheduled for `unscheduledSeconds` at least
 * `unschedulableTimeoutSeconds` ends with exit code -1 and the scheduler's
 * reason, such as "no suitable node (scheduling constraints not satisfied
 * on 1 node)".
 */
export function judgeTask(
  task: SwarmTask,
  options: { unscheduledSeconds: number; unschedulableTimeoutSeconds: number },
): TaskVerdict {
  const status = task.Status ?? {};
  const state = status.State ?? "new";
  const containerId = status.ContainerStatus?.ContainerID || null;
  if (FINAL_STATES.has(state)) {
    const exitCode = state === "rejected" || containerId === null
      ? -1
      : status.ContainerStatus?.ExitCode ?? -1;
    return {
      ended: true,
      exitCode,
      error: finalError(state, status.Err, exitCode),
      containerId,
    };
  }
  if (
    isUnscheduled(task) &&
    options.unscheduledSeconds >= options.unschedulableTimeoutSeconds
  ) {
    const reason = status.Err || status.Message || `task is ${state}`;
    return {
      ended: true,
      exitCode: -1,
      error: `Task ${task.ID} could not be scheduled within ` +
        `${options.unschedulableTimeoutSeconds} s: ${reason}`,
      containerId: null,
    };
  }
  return { ended: false };
}

function finalError(
  state: string,
  err: string | undefined,
  exitCode: number,
): string | null {
  // The swarm states a non-zero exit as "task: non-zero exit (3)", which
  // only repeats the exit code.
  if (
    err === undefined || err === "" ||
    err === `task: non-zero exit (${exitCode})`
  ) {
    return state === "complete" || state === "failed"
      ? null
      : `Task ended in state ${state}`;
  }
  return state === "rejected" ? `Task rejected: ${err}` : err;
}
