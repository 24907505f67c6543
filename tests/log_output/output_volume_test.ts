import assert from "node:assert/strict";
import { lineCutMarker } from "../../src/log_shipping/line_assembler.ts";
import {
  containersOfJob,
  logLines,
  waitForStatus,
  withHarness,
} from "../support/harness.ts";
import { waitUntil } from "../support/daemon_process.ts";
import {
  containerEntries,
  containerLines,
  FAST_SHIPPING,
  integration,
  shellJob,
} from "./job_output_support.ts";

const LONG_LINE_SCRIPT = "head -c 100000 /dev/zero | tr '\\0' a; echo; " +
  "echo after";

Deno.test({
  name: "job output of 10,000 lines arrives in order",
  ...integration,
  fn: () =>
    withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
      const job = api.addJob(shellJob("seq 1 10000"));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      const lines = logLines(api, job.id, "container", "Info");
      assert.equal(lines.length, 10_000);
      const firstWrong = lines.findIndex((line, index) =>
        line !== String(index + 1)
      );
      assert.equal(
        firstWrong,
        -1,
        `line ${firstWrong + 1} is "${lines[firstWrong]}"`,
      );
      assert.deepEqual(logLines(api, job.id, "container", "Error"), []);
      // seq writes all lines at once, so they share entries of up to
      // MaxEntryBytes (about 6,000 of these lines). The bound of 100 lines
      // per entry on average is far below that.
      const entries = containerEntries(api, job.id).length;
      assert.ok(entries <= 100, `${entries} entries for 10,000 lines`);
    }),
});

Deno.test({
  name: "job output cuts a line over MaxLineBytes",
  ...integration,
  fn: () =>
    withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
      const job = api.addJob(shellJob(LONG_LINE_SCRIPT));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      const marker = lineCutMarker(65_536);
      const lines = logLines(api, job.id, "container");
      assert.equal(lines.length, 3);
      assert.equal(lines[0], "a".repeat(65_536) + marker);
      assert.equal(lines[1], "a".repeat(100_000 - 65_536));
      assert.equal(lines[2], "after");
      const joined = lines.slice(0, 2)
        .map((line) =>
          line.endsWith(marker) ? line.slice(0, -marker.length) : line
        )
        .join("");
      assert.equal(joined, "a".repeat(100_000));
    }),
});

Deno.test({
  name: "job output keeps a line under raised MaxLineBytes",
  ...integration,
  fn: () =>
    withHarness(
      {
        settings: { ...FAST_SHIPPING, "LogSettings:MaxLineBytes": "131072" },
      },
      async ({ api }) => {
        const job = api.addJob(shellJob(LONG_LINE_SCRIPT));
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
        );
        const lines = logLines(api, job.id, "container");
        assert.equal(lines.length, 2);
        assert.equal(lines[0], "a".repeat(100_000));
        assert.equal(lines[1], "after");
      },
    ),
});

Deno.test({
  name: "job output over MaxJobLogBytes is counted",
  ...integration,
  fn: () =>
    withHarness(
      { settings: { ...FAST_SHIPPING, "LogSettings:MaxJobLogBytes": "10000" } },
      async ({ api, docker }) => {
        // 5,000 lines of 19 characters and a newline make 100,000 bytes.
        const line = "0123456789abcdefghi";
        const job = api.addJob(shellJob(`yes ${line} | head -n 5000`));
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
        );

        // The limit counts line text without newlines, so 526 lines of 19
        // bytes fit in 10,000 and the 527th does not.
        const sent = containerLines(api, job.id);
        assert.equal(sent.length, 526);
        assert.ok(sent.every((text) => text === `Info:${line}`));

        const entries = api.logs(job.id);
        const last = entries[entries.length - 1];
        assert.equal(last.source, "orchestrator");
        assert.equal(last.level, "Warning");
        assert.match(last.message, /limit of 10000 bytes/);
        assert.match(last.message, /last 4474 lines \(85006 bytes\)/);

        const notes = logLines(api, job.id, "orchestrator").join("\n");
        assert.match(notes, /Container exited with code 0/);
        await waitUntil(
          async () => (await containersOfJob(docker, job.id)).length === 0,
          "the container to be removed",
        );
      },
    ),
});
