import assert from "node:assert/strict";
import { waitForStatus, withHarness } from "../support/harness.ts";
import {
  containerLines,
  FAST_SHIPPING,
  integration,
  renderRecord,
  shellJob,
  shellQuote,
  withDaemonLog,
} from "./job_output_support.ts";

const PASSWORD = "hunter2-secret-value";
// Its base64 contains "/" and "=" padding, and encodeURIComponent changes
// it, so every encoded form differs from the others.
const TOKEN = "api~token>>?value";

/**
 * Returns the forms of a secret that must never leave the host: the value,
 * its standard and URL-safe base64 with and without padding, and its URL
 * encoding, each once.
 */
function secretForms(secret: string): string[] {
  const base64 = btoa(secret);
  const unpadded = base64.replace(/=+$/, "");
  const urlSafe = base64.replaceAll("+", "-").replaceAll("/", "_");
  const urlSafeUnpadded = unpadded.replaceAll("+", "-").replaceAll("/", "_");
  return [
    ...new Set([
      secret,
      base64,
      unpadded,
      urlSafe,
      urlSafeUnpadded,
      encodeURIComponent(secret),
    ]),
  ];
}

/**
 * Returns shell commands that print each form of `secret` on a line of its
 * own, after `label` and the form's index.
 */
function printForms(label: string, secret: string): string {
  return secretForms(secret)
    .map((form, index) =>
      `printf '%s\\n' ${shellQuote(`${label} ${index}: ${form}`)}`
    )
    .join("; ");
}

Deno.test({
  name: "job output masks secrets everywhere",
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
          // The engine may pass the two halves of the split write in separate
          // reads, so the masker must see whole lines. The engine copies
          // stdout and stderr apart, so lines of the two written within a
          // few ms can swap. Pauses around the stderr line keep the order.
          const script = [
            'echo "whole: $DB_PASSWORD"',
            "printf 'pw=hunter2-'; sleep 0.3; printf 'secret-value\\n'",
            'sleep 0.2; echo "error: $DB_PASSWORD" >&2; sleep 0.2',
            printForms("password", PASSWORD),
            printForms("token", TOKEN),
            'echo "token env: $API_TOKEN"',
          ].join("; ");
          const job = api.addJob(shellJob(script, {
            parameters: { DB_PASSWORD: PASSWORD, API_TOKEN: TOKEN },
          }));
          assert.equal(
            await waitForStatus(api, job.id, ["Completed", "Failed"]),
            "Completed",
          );

          const passwordForms = secretForms(PASSWORD);
          const tokenForms = secretForms(TOKEN);
          assert.deepEqual(containerLines(api, job.id), [
            "Info:whole: ***",
            "Info:pw=***",
            "Error:error: ***",
            ...passwordForms.map((_, index) => `Info:password ${index}: ***`),
            ...tokenForms.map((_, index) => `Info:token ${index}: ***`),
            "Info:token env: ***",
          ]);
          // The password is its own URL form and its base64 has no "+" or
          // "/", so it has three distinct forms. The token has all six.
          assert.equal(passwordForms.length, 3);
          assert.equal(tokenForms.length, 6);

          const forms = [...passwordForms, ...tokenForms];
          for (const entry of api.logs(job.id)) {
            for (const form of forms) {
              assert.ok(
                !entry.message.includes(form),
                `entry "${entry.message}" contains a form of a secret`,
              );
            }
          }

          // The echo of container lines puts masked lines in the daemon's
          // log, so the capture is known to hold the job's output.
          const daemonLog = records.map(renderRecord);
          assert.ok(
            daemonLog.some((text) => text.includes("whole: ***")),
            "the daemon's log has no echoed line",
          );
          for (const text of daemonLog) {
            for (const form of forms) {
              assert.ok(
                !text.includes(form),
                `daemon log record "${text}" contains a form of a secret`,
              );
            }
          }
        },
      )
    ),
});
