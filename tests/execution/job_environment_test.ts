import assert from "node:assert/strict";
import { buildJobEnvironment } from "../../src/execution/job_environment.ts";
import type { Job } from "../../src/iam_api/job.ts";
import { testJob } from "../support/jobs.ts";

function job(overrides: Partial<Job> = {}): Job {
  return testJob({
    id: "6f1c7f36-2d3e-4a8e-9c1b-1f0a5e2b7a11",
    name: "Provision",
    customer: "alpha",
    scriptPath: "/scripts/p.ps1",
    ...overrides,
  });
}

Deno.test("buildJobEnvironment sets the variables of the .NET service", () => {
  const result = buildJobEnvironment(job({ parameters: { USERS: "a b" } }));
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.deepEqual(result.env, [
    "USERS=a b",
    "JOB_ID=6f1c7f36-2d3e-4a8e-9c1b-1f0a5e2b7a11",
    "JOB_NAME=Provision",
    "CUSTOMER=alpha",
    "SCRIPT_PATH=/scripts/p.ps1",
    "WHAT_IF=False",
  ]);
});

Deno.test("buildJobEnvironment formats WHAT_IF as True", () => {
  const result = buildJobEnvironment(job({ isWhatIf: true }));
  assert.ok(result.ok);
  if (result.ok) assert.ok(result.env.includes("WHAT_IF=True"));
});

Deno.test("buildJobEnvironment lets reserved names win with a warning", () => {
  const result = buildJobEnvironment(job({ parameters: { CUSTOMER: "evil" } }));
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.ok(result.env.includes("CUSTOMER=alpha"));
  assert.ok(!result.env.includes("CUSTOMER=evil"));
  assert.equal(result.warnings.length, 1);
  assert.match(result.warnings[0], /CUSTOMER/);
});

Deno.test("buildJobEnvironment rejects names that cannot be variables", () => {
  for (const name of ["", "A=B", "WITH SPACE", "TAB\tNAME"]) {
    const result = buildJobEnvironment(job({ parameters: { [name]: "x" } }));
    assert.equal(result.ok, false, JSON.stringify(name));
    if (!result.ok) {
      assert.match(result.reason, /cannot be an environment variable/);
    }
  }
});

Deno.test("buildJobEnvironment keeps values with equals and newlines", () => {
  const result = buildJobEnvironment(job({ parameters: { FILTER: "a=b\nc" } }));
  assert.ok(result.ok);
  if (result.ok) assert.ok(result.env.includes("FILTER=a=b\nc"));
});

Deno.test("buildJobEnvironment adds certificate variables", () => {
  const result = buildJobEnvironment(job(), {
    certificatePassword: "pfx-pass",
  });
  assert.ok(result.ok);
  if (!result.ok) return;
  assert.ok(result.env.includes("CLIENT_CERT_PATH=/tmp/client-cert.pfx"));
  assert.ok(result.env.includes("CLIENT_CERT_PASSWORD=pfx-pass"));
});
