import assert from "node:assert/strict";
import type { ReferenceApiEvent } from "../../src/reference_api/server.ts";
import { waitUntil } from "../support/daemon_process.ts";
import { logLines, waitForStatus, withHarness } from "../support/harness.ts";
import {
  containerLines,
  FAST_SHIPPING,
  integration,
  shellJob,
} from "./job_output_support.ts";

const LINE_COUNT = 300;
const OUTAGE_MS = 10_000;

function isFinal(status: string | undefined): boolean {
  return status === "Completed" || status === "Failed";
}

Deno.test({
  name: "job output survives a 10 s API outage",
  ...integration,
  fn: async () => {
    const events: ReferenceApiEvent[] = [];
    await withHarness(
      {
        settings: FAST_SHIPPING,
        api: { onEvent: (event) => events.push(event) },
      },
      async ({ api }) => {
        // With 300 lines 50 ms apart, the job runs for 15 s or more, so it
        // writes before, during and after the outage.
        const job = api.addJob(shellJob(
          `i=1; while [ $i -le ${LINE_COUNT} ]; do echo "line $i"; ` +
            "i=$((i + 1)); sleep 0.05; done",
        ));
        await waitUntil(
          () =>
            logLines(api, job.id, "container").length >= 20 ||
            isFinal(api.getJob(job.id)?.status),
          "the first 20 lines of the job",
        );
        assert.equal(
          api.getJob(job.id)?.status,
          "Running",
          `the job ended before the outage: ${
            logLines(api, job.id, "orchestrator").join(" | ")
          }`,
        );
        api.faults.add({
          method: "POST",
          path: "/api/logs",
          kind: "status",
          status: 503,
          forMs: OUTAGE_MS,
        });

        // After the outage, the outbox waits up to 30 s (its maximum
        // backoff) before it retries.
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"], 90_000),
          "Completed",
        );
        assert.ok(
          api.faults.appliedCount > 0,
          "no request failed during the outage",
        );

        const expected = Array.from(
          { length: LINE_COUNT },
          (_, index) => `Info:line ${index + 1}`,
        );
        assert.deepEqual(containerLines(api, job.id), expected);

        // The final status comes after every entry of the job.
        const jobEvents = events.filter((event) =>
          "jobId" in event && event.jobId === job.id
        );
        const lastLog = jobEvents.findLastIndex((event) =>
          event.type === "log"
        );
        const completed = jobEvents.findIndex((event) =>
          event.type === "statusChanged" && event.to === "Completed"
        );
        assert.ok(completed >= 0, "no change to Completed was seen");
        assert.ok(
          lastLog < completed,
          `log event ${lastLog} comes after the status change ${completed}`,
        );
        const lastEntry = api.logs(job.id).at(-1);
        assert.equal(lastEntry?.source, "orchestrator");
        assert.match(
          lastEntry?.message.split("\n").at(-1) ?? "",
          /^Job completed after/,
        );
      },
    );
  },
});
