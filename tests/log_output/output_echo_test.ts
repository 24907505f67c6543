import assert from "node:assert/strict";
import { waitForStatus, withHarness } from "../support/harness.ts";
import {
  containerLines,
  FAST_SHIPPING,
  integration,
  renderMessage,
  shellJob,
  shortContainerId,
  withDaemonLog,
} from "./job_output_support.ts";

// The engine copies stdout and stderr apart, so pauses keep the order of
// lines of the two streams.
const SCRIPT = "echo 'out one'; sleep 0.2; echo 'err one' >&2; sleep 0.2; " +
  "printf 'out two'";

Deno.test({
  name: "EchoContainerOutput writes lines to the daemon log",
  ...integration,
  fn: () =>
    withDaemonLog((records) =>
      withHarness(
        {
          settings: {
            ...FAST_SHIPPING,
            "LogSettings:EchoContainerOutput": "true",
          },
        },
        async ({ api }) => {
          const job = api.addJob(shellJob(SCRIPT));
          assert.equal(
            await waitForStatus(api, job.id, ["Completed", "Failed"]),
            "Completed",
          );
          assert.deepEqual(containerLines(api, job.id), [
            "Info:out one",
            "Error:err one",
            "Info:out two",
          ]);

          const containerId = shortContainerId(api, job.id);
          const echoed = records
            .filter((record) => record.properties.jobId === job.id)
            .map(renderMessage)
            .filter((message) => message.startsWith("["));
          assert.deepEqual(echoed, [
            `[${containerId}] stdout: out one`,
            `[${containerId}] stderr: err one`,
            `[${containerId}] stdout: out two`,
          ]);
        },
      )
    ),
});

Deno.test({
  name: "EchoContainerOutput is off by default",
  ...integration,
  fn: () =>
    withDaemonLog((records) =>
      withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
        const job = api.addJob(shellJob(SCRIPT));
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
        );
        assert.equal(containerLines(api, job.id).length, 3);

        const containerId = shortContainerId(api, job.id);
        const jobRecords = records
          .filter((record) => record.properties.jobId === job.id)
          .map(renderMessage);
        // The job's own notes show that the capture works.
        assert.ok(
          jobRecords.some((message) => message.includes("exited with code 0")),
          "the daemon's log has no record of the job",
        );
        assert.deepEqual(
          jobRecords.filter((message) =>
            message.startsWith(`[${containerId}]`)
          ),
          [],
        );
      })
    ),
});
