import assert from "node:assert/strict";
import { waitForStatus, withHarness } from "../support/harness.ts";
import {
  containerLines,
  FAST_SHIPPING,
  integration,
  shellJob,
} from "./job_output_support.ts";

Deno.test({
  name: "job output keeps a last line without newline",
  ...integration,
  fn: () =>
    withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
      const job = api.addJob(
        shellJob("echo first; sleep 0.2; printf 'last without newline'"),
      );
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(containerLines(api, job.id), [
        "Info:first",
        "Info:last without newline",
      ]);
    }),
});

Deno.test({
  name: "job output of quick exits is complete",
  ...integration,
  fn: () =>
    withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
      // The engine's follow stream can end before a line written just before
      // the exit reaches it, so ten runs give that loss a chance to show.
      // Half the lines end without a newline, half with one.
      const jobs = Array.from({ length: 10 }, (_, index) =>
        api.addJob(shellJob(
          index % 2 === 0 ? `echo 'quick ${index}'` : `printf 'quick ${index}'`,
        )));
      for (const [index, job] of jobs.entries()) {
        assert.equal(
          await waitForStatus(api, job.id, ["Completed", "Failed"]),
          "Completed",
          `status of run ${index}`,
        );
        assert.deepEqual(
          containerLines(api, job.id),
          [`Info:quick ${index}`],
          `output of run ${index}`,
        );
      }
    }),
});

Deno.test({
  name: "job output only on stderr has level Error",
  ...integration,
  fn: () =>
    withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
      const job = api.addJob(shellJob(
        "echo 'error one' >&2; echo 'error two' >&2; " +
          "printf 'error three' >&2; exit 4",
      ));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Failed",
      );
      assert.deepEqual(containerLines(api, job.id), [
        "Error:error one",
        "Error:error two",
        "Error:error three",
      ]);
    }),
});

Deno.test({
  name: "job output keeps a character split across writes",
  ...integration,
  fn: () =>
    withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
      // U+20AC (euro sign) is E2 82 AC in UTF-8, and its last byte comes
      // 0.3 s after the others. U+1F600 is split after two of its four.
      const job = api.addJob(shellJob(
        "printf 'price: \\xe2\\x82'; sleep 0.3; printf '\\xac 5\\n'; " +
          "printf '\\xf0\\x9f'; sleep 0.3; printf '\\x98\\x80\\n'",
      ));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(containerLines(api, job.id), [
        "Info:price: \u20ac 5",
        "Info:\u{1f600}",
      ]);
    }),
});

Deno.test({
  name: "job output keeps the last state of progress bars",
  ...integration,
  fn: () =>
    withHarness({ settings: FAST_SHIPPING }, async ({ api }) => {
      // The engine copies stdout and stderr apart, so a pause keeps the
      // stderr line after the stdout lines.
      const job = api.addJob(shellJob(
        "printf '10%%\\r20%%\\r30%%\\n'; " +
          "printf 'step 1/3\\r'; sleep 0.2; printf 'step 2/3\\r'; sleep 0.2; " +
          "printf 'step 3/3\\n'; " +
          "printf 'windows line\\r\\n'; sleep 0.2; " +
          "printf 'copying\\rdone\\r\\n' >&2",
      ));
      assert.equal(
        await waitForStatus(api, job.id, ["Completed", "Failed"]),
        "Completed",
      );
      assert.deepEqual(containerLines(api, job.id), [
        "Info:30%",
        "Info:step 3/3",
        "Info:windows line",
        "Error:done",
      ]);
    }),
});
