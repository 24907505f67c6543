import assert from "node:assert/strict";
import { UPDATE_EXIT_CODE } from "../../src/cli/run_command.ts";
import {
  type ReferenceApi,
  type ReferenceApiEvent,
  startReferenceApi,
} from "../../src/reference_api/server.ts";
import {
  type DaemonProcess,
  spawnDaemon,
  waitUntil,
} from "../support/daemon_process.ts";
import { logLines, waitForStatus } from "../support/harness.ts";
import {
  API_USER,
  CUSTOMER,
  integration,
  secondGeneration,
  shellJob,
} from "./security_support.ts";

/** Maximum wait for the daemon process to exit, in ms. */
const EXIT_WAIT_MS = 60_000;

/** Starts the daemon as a child process that logs in to `api`. */
function spawnAgainst(apiUrl: string, stateDirectory: string): DaemonProcess {
  return spawnDaemon({
    "ApiSettings:BaseUrl": apiUrl,
    "ApiSettings:PollingIntervalSeconds": "0.1",
    "ApiSettings:Username": API_USER.username,
    "ApiSettings:Password": API_USER.password,
    "CustomerSettings:CustomerName": CUSTOMER,
    "OrchestratorSettings:StateDirectory": stateDirectory,
    "OrchestratorSettings:ShutdownGraceSeconds": "20",
    "LogSettings:FlushIntervalMs": "20",
  });
}

/** Returns the exit code, or null when the process runs past `timeoutMs`. */
async function exitCode(
  daemon: DaemonProcess,
  timeoutMs = EXIT_WAIT_MS,
): Promise<number | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([
    daemon.exited,
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  return code;
}

/** Ends a daemon that is still running, then the API and the directory. */
async function cleanUp(
  daemon: DaemonProcess,
  api: ReferenceApi,
  stateDirectory: string,
): Promise<void> {
  try {
    daemon.child.kill("SIGKILL");
  } catch {
    // The process has exited already.
  }
  await daemon.exited;
  await api.close();
  await Deno.remove(stateDirectory, { recursive: true });
}

Deno.test({
  name: "update request ends the daemon with 75",
  ...integration,
  fn: async () => {
    const events: ReferenceApiEvent[] = [];
    const api = await startReferenceApi(secondGeneration({ events }).api);
    const stateDirectory = await Deno.makeTempDir({ prefix: "iam-state-" });
    const daemon = spawnAgainst(api.url, stateDirectory);
    try {
      const job = api.addJob(shellJob("echo begin; sleep 3; echo end"));
      await waitUntil(
        () => logLines(api, job.id, "container").includes("begin"),
        `the job's first line; daemon output: ${daemon.output()}`,
      );
      const heartbeat = events.find((event) => event.type === "heartbeat");
      assert.ok(heartbeat?.type === "heartbeat");
      const orchestratorId = heartbeat.orchestratorId;
      assert.equal(api.getJob(job.id)?.status, "Running");

      api.requestUpdate(orchestratorId);
      await waitUntil(
        () => events.some((event) => event.type === "updateAcknowledged"),
        "the update acknowledgement",
      );
      // After the acknowledgement the daemon takes no new job.
      const later = api.addJob(shellJob("echo too late"));

      assert.equal(
        await exitCode(daemon),
        UPDATE_EXIT_CODE,
        `daemon did not exit with ${UPDATE_EXIT_CODE}; output: ` +
          daemon.output(),
      );
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"], 1000),
        "Completed",
      );
      assert.deepEqual(logLines(api, job.id, "container"), ["begin", "end"]);
      assert.equal(api.getJob(later.id)?.status, "Pending");
      assert.equal(api.getOrchestrator(orchestratorId)?.pendingUpdate, false);
      assert.match(daemon.output(), /requested an update/);
    } finally {
      await cleanUp(daemon, api, stateDirectory);
    }
  },
});

Deno.test({
  name: "update request after a failed heartbeat",
  ...integration,
  fn: async () => {
    const events: ReferenceApiEvent[] = [];
    const api = await startReferenceApi(secondGeneration({ events }).api);
    // Until its first heartbeat arrives, the server does not know the
    // orchestrator and responds to update-status with 404.
    api.faults.add({
      method: "POST",
      path: "/api/orchestrators/heartbeat",
      kind: "status",
      status: 503,
      count: 1,
    });
    const stateDirectory = await Deno.makeTempDir({ prefix: "iam-state-" });
    const daemon = spawnAgainst(api.url, stateDirectory);
    try {
      await waitUntil(
        () => events.some((event) => event.type === "heartbeat"),
        `a heartbeat; daemon output: ${daemon.output()}`,
      );
      const heartbeat = events.find((event) => event.type === "heartbeat");
      assert.ok(heartbeat?.type === "heartbeat");
      assert.ok(events.some((event) => event.type === "fault"));

      // A 404 from update-status before the first accepted heartbeat must
      // not turn update checks off for good.
      assert.ok(
        !/update checks are off/.test(daemon.output()),
        "the daemon turned update checks off after a 404 that came before " +
          "its first accepted heartbeat",
      );
      api.requestUpdate(heartbeat.orchestratorId);
      assert.equal(
        await exitCode(daemon, 15_000),
        UPDATE_EXIT_CODE,
        "the daemon ignored the update request after one failed heartbeat",
      );
    } finally {
      await cleanUp(daemon, api, stateDirectory);
    }
  },
});
