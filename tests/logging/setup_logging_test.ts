import assert from "node:assert/strict";
import { reset } from "@logtape/logtape";
import { daemonLogger, setupLogging } from "../../src/logging/setup_logging.ts";
import { TEST_IMAGE } from "../support/jobs.ts";
import { waitForStatus, withHarness } from "../support/harness.ts";

Deno.test("setupLogging writes JSON lines with fields", async () => {
  const lines: string[] = [];
  await setupLogging({ level: "Information", format: "Json" }, {
    write: (text) => lines.push(text),
  });
  try {
    daemonLogger("test").with({ jobId: "j-1", customer: "alpha" }).info(
      "Job {jobName} started",
      { jobName: "provision" },
    );
    daemonLogger("test").debug("below the level");
  } finally {
    await reset();
  }
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]);
  assert.equal(record.message, "Job provision started");
  assert.equal(record.level, "INFO");
  assert.equal(record.jobId, "j-1");
  assert.equal(record.customer, "alpha");
  assert.equal(record.logger, "iam-orchestrator.test");
});

Deno.test("setupLogging writes an error's message", async () => {
  const lines: string[] = [];
  await setupLogging({ level: "Information", format: "Json" }, {
    write: (text) => lines.push(text),
  });
  const error = new Error("POST /api/logs failed: connection refused");
  try {
    daemonLogger("test").warn("Sending failed: {error}", { error });
  } finally {
    await reset();
  }
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]);
  assert.equal(
    record.message,
    "Sending failed: POST /api/logs failed: connection refused",
  );
  assert.equal(record.error, "POST /api/logs failed: connection refused");
});

Deno.test("setupLogging writes text with fields on a terminal", async () => {
  const lines: string[] = [];
  await setupLogging({ level: "Debug", format: "Auto" }, {
    write: (text) => lines.push(text),
    isTerminal: true,
  });
  try {
    daemonLogger("test").with({ jobId: "j-2" }).debug("Pulling {image}", {
      image: "busybox",
    });
  } finally {
    await reset();
  }
  assert.equal(lines.length, 1);
  assert.match(lines[0], /\[DBG\] iam-orchestrator·test: Pulling busybox/);
  assert.match(lines[0], /jobId=j-2/);
  assert.doesNotMatch(lines[0], /image=/);
});

Deno.test({
  name: "daemon JSON records carry job fields, not secrets",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const lines: string[] = [];
    await setupLogging({ level: "Debug", format: "Json" }, {
      write: (text) => lines.push(text),
    });
    const marker = "marker-secret-3f9a1c";
    try {
      await withHarness(
        { settings: { "LogSettings:EchoContainerOutput": "true" } },
        async ({ api }) => {
          const job = api.addJob({
            name: "json fields",
            customer: "beta",
            containerImage: TEST_IMAGE,
            jobType: "OneOff",
            parameters: { RUN: "echo token=$API_TOKEN", API_TOKEN: marker },
          });
          await waitForStatus(api, job.id, ["Completed", "Failed"]);
          const records = lines.map((line) => JSON.parse(line));
          const about = records.filter((record) => record.jobId === job.id);
          assert.ok(about.length >= 4, `only ${about.length} job records`);
          for (const record of about) {
            assert.equal(record.jobName, "json fields");
            assert.equal(record.customer, "beta");
          }
          assert.ok(
            about.some((record) => /token=\*\*\*/.test(record.message)),
            "the echoed line is missing",
          );
        },
      );
    } finally {
      await reset();
    }
    assert.ok(lines.length > 0);
    for (const line of lines) {
      assert.ok(!line.includes(marker), `secret in: ${line}`);
    }
  },
});
