import assert from "node:assert/strict";
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { writeCertificateFile } from "../../src/execution/customer_certificate.ts";
import { CLIENT_CERT_CONTAINER_PATH } from "../../src/execution/job_environment.ts";
import {
  type ContainerHardening,
  DEFAULT_CONTAINER_HARDENING,
  describeHardening,
  hardeningContainerOptions,
  hardeningHostConfig,
  memoryKillMessage,
  memoryLimitBytes,
} from "../../src/runtime/container_hardening.ts";

const IMAGE = "iam-orchestrator-test/busybox:latest";
const TEST_LABEL = "io.iam-orchestrator.test";
/** Maximum time a test container may run before it is killed, in ms. */
const CONTAINER_GUARD_MS = 120_000;
const MIB = 1024 * 1024;

function hardening(
  overrides: Partial<ContainerHardening> = {},
): ContainerHardening {
  return { ...DEFAULT_CONTAINER_HARDENING, ...overrides };
}

interface ContainerOutcome {
  exitCode: number;
  info: Docker.ContainerInspectInfo;
}

/**
 * Runs the test image with `RUN` as its shell snippet under `settings`,
 * waits for the exit and removes the container in every case.
 */
async function runContainer(
  settings: ContainerHardening,
  options: { run: string; binds?: string[] },
): Promise<ContainerOutcome> {
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const { User, HostConfig } = hardeningContainerOptions(settings);
  const container = await docker.createContainer({
    Image: IMAGE,
    Env: [`RUN=${options.run}`],
    User,
    Labels: { [TEST_LABEL]: "container_hardening" },
    HostConfig: { ...HostConfig, Binds: options.binds },
  });
  let guard: ReturnType<typeof setTimeout> | undefined;
  try {
    await container.start();
    guard = setTimeout(() => {
      container.kill().catch(() => {});
    }, CONTAINER_GUARD_MS);
    const result = await container.wait() as { StatusCode: number };
    const info = await container.inspect();
    return { exitCode: result.StatusCode, info };
  } finally {
    clearTimeout(guard);
    await container.remove({ force: true, v: true });
  }
}

// Reads a cgroup value under cgroup v1 or v2 and compares it.
function cgroupEquals(v1: string, v2: string, expected: string): string {
  return `value=$(cat /sys/fs/cgroup/${v1} 2>/dev/null || ` +
    `cat /sys/fs/cgroup/${v2}); echo "$value"; [ "$value" = "${expected}" ]`;
}

Deno.test("hardeningHostConfig builds the defaults", () => {
  assert.deepEqual(hardeningHostConfig(DEFAULT_CONTAINER_HARDENING), {
    Privileged: false,
    SecurityOpt: ["no-new-privileges:true"],
    Memory: 1024 * MIB,
    MemorySwap: 1024 * MIB,
    NanoCpus: 1_000_000_000,
    PidsLimit: 512,
    NetworkMode: "bridge",
    ReadonlyRootfs: false,
  });
  assert.deepEqual(
    hardeningContainerOptions(DEFAULT_CONTAINER_HARDENING),
    { HostConfig: hardeningHostConfig(DEFAULT_CONTAINER_HARDENING) },
  );
});

Deno.test("hardeningHostConfig turns limits off with 0", () => {
  const config = hardeningHostConfig(hardening({
    memoryLimitMb: 0,
    cpuLimit: 0,
    pidsLimit: 0,
    noNewPrivileges: false,
  }));
  assert.equal(config.Memory, undefined);
  assert.equal(config.MemorySwap, undefined);
  assert.equal(config.NanoCpus, undefined);
  assert.equal(config.PidsLimit, undefined);
  assert.deepEqual(config.SecurityOpt, []);
  assert.equal(memoryLimitBytes(hardening({ memoryLimitMb: 0 })), null);
});

Deno.test("hardeningHostConfig sets the options", () => {
  const settings = hardening({
    cpuLimit: 0.25,
    readOnlyRootFilesystem: true,
    tmpfsSizeMb: 32,
    dropCapabilities: true,
    networkMode: "none",
    user: "1000:1000",
  });
  const { User, HostConfig } = hardeningContainerOptions(settings);
  assert.equal(User, "1000:1000");
  assert.equal(HostConfig.NanoCpus, 250_000_000);
  assert.equal(HostConfig.ReadonlyRootfs, true);
  assert.deepEqual(HostConfig.Tmpfs, {
    "/tmp": "rw,nosuid,nodev,mode=1777,size=32m",
  });
  assert.deepEqual(HostConfig.CapDrop, ["ALL"]);
  assert.equal(HostConfig.NetworkMode, "none");
});

Deno.test("hardeningHostConfig rejects invalid values", () => {
  const cases: Array<[Partial<ContainerHardening>, RegExp]> = [
    [{ memoryLimitMb: 5 }, /MemoryLimitMb "5"/],
    [{ memoryLimitMb: 1.5 }, /MemoryLimitMb "1.5"/],
    [{ cpuLimit: -1 }, /CpuLimit "-1"/],
    [{ cpuLimit: Number.NaN }, /CpuLimit "NaN"/],
    [{ pidsLimit: 2.5 }, /PidsLimit "2.5"/],
    [{ tmpfsSizeMb: 0 }, /TmpfsSizeMb "0"/],
    [{ networkMode: "" }, /NetworkMode ""/],
    [{ user: "root user" }, /User "root user"/],
  ];
  for (const [overrides, pattern] of cases) {
    assert.throws(
      () => hardeningHostConfig(hardening(overrides)),
      pattern,
      JSON.stringify(overrides),
    );
  }
});

Deno.test("describeHardening writes one line", () => {
  const line = describeHardening(hardening({ user: "1000" }));
  assert.ok(!line.includes("\n"));
  assert.match(line, /memory 1 GiB without swap/);
  assert.match(line, /1 CPU/);
  assert.match(line, /at most 512 processes/);
  assert.match(line, /no-new-privileges/);
  assert.match(line, /user 1000/);
  assert.match(
    describeHardening(hardening({ memoryLimitMb: 0, cpuLimit: 0 })),
    /memory unlimited, CPU unlimited/,
  );
});

Deno.test("memoryKillMessage names the limit", () => {
  const message = memoryKillMessage(16 * MIB, 137);
  assert.match(message, /memory limit of 16 MiB/);
  assert.match(message, /exit code 137/);
  assert.match(message, /ContainerSettings:MemoryLimitMb/);
  assert.match(memoryKillMessage(1536 * MIB, 137), /1\.5 GiB/);
  assert.match(memoryKillMessage(null, 137), /host ran out of memory/);
});

Deno.test("hardened container has the limits", async () => {
  const settings = hardening();
  const run = [
    'grep -q "^NoNewPrivs:[[:space:]]*1" /proc/self/status',
    cgroupEquals("pids/pids.max", "pids.max", "512"),
    cgroupEquals(
      "memory/memory.limit_in_bytes",
      "memory.max",
      String(1024 * MIB),
    ),
  ].join(" && ");
  const { exitCode, info } = await runContainer(settings, { run });
  const host = info.HostConfig;
  assert.deepEqual(host.SecurityOpt, ["no-new-privileges:true"]);
  assert.equal(host.Privileged, false);
  assert.equal(host.Memory, 1024 * MIB);
  assert.equal(host.MemorySwap, 1024 * MIB);
  assert.equal(host.NanoCpus, 1_000_000_000);
  assert.equal(host.PidsLimit, 512);
  assert.equal(host.NetworkMode, "bridge");
  assert.equal(exitCode, 0, "a limit is not in effect inside the container");
});

Deno.test("container over its memory limit is killed", async () => {
  const settings = hardening({ memoryLimitMb: 16 });
  // `tail` keeps the whole newline-free input in memory.
  const { exitCode, info } = await runContainer(settings, {
    run: "head -c 100m /dev/zero | tail",
  });
  assert.equal(info.State.OOMKilled, true);
  assert.equal(exitCode, 137);
  assert.match(
    memoryKillMessage(memoryLimitBytes(settings), exitCode),
    /memory limit of 16 MiB \(exit code 137\)/,
  );
});

Deno.test("read-only container writes only to /tmp", async () => {
  const settings = hardening({ readOnlyRootFilesystem: true });
  const { exitCode, info } = await runContainer(settings, {
    run: "if touch /written 2>/dev/null; then exit 10; fi; " +
      'echo ok > /tmp/file && [ "$(cat /tmp/file)" = ok ]',
  });
  assert.equal(info.HostConfig.ReadonlyRootfs, true);
  assert.equal(exitCode, 0);
});

Deno.test("container without capabilities reads a certificate", async () => {
  const parent = await Deno.makeTempDir({ prefix: "hardening_test_" });
  try {
    const data = crypto.getRandomValues(new Uint8Array(1500));
    const file = await writeCertificateFile({
      customerName: "alpha",
      data,
      password: "unused",
      thumbprint: "",
      expiresAt: null,
    }, { parentDirectory: parent });
    const settings = hardening({
      readOnlyRootFilesystem: true,
      dropCapabilities: true,
    });
    const { exitCode, info } = await runContainer(settings, {
      run: `[ "$(wc -c < ${CLIENT_CERT_CONTAINER_PATH})" -eq 1500 ] && ` +
        // chown needs CAP_CHOWN, so it fails once every capability is gone.
        "echo x > /tmp/owned && if chown 1 /tmp/owned; then exit 10; fi",
      binds: [`${file.hostPath}:${CLIENT_CERT_CONTAINER_PATH}:ro`],
    });
    assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
    // The daemon's user owns the 0600 file; root in the container can read
    // it only when that user is root too.
    if ((await Deno.stat(file.hostPath)).uid === 0) assert.equal(exitCode, 0);
    await file.remove();
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("non-root container user needs mode 0644", async () => {
  const parent = await Deno.makeTempDir({ prefix: "hardening_test_" });
  try {
    const certificate = {
      customerName: "alpha",
      data: new Uint8Array([1, 2, 3]),
      password: "unused",
      thumbprint: "",
      expiresAt: null,
    };
    const settings = hardening({ user: "65534:65534" });
    const run = `cat ${CLIENT_CERT_CONTAINER_PATH} > /dev/null`;

    const private600 = await writeCertificateFile(certificate, {
      parentDirectory: parent,
    });
    const denied = await runContainer(settings, {
      run,
      binds: [`${private600.hostPath}:${CLIENT_CERT_CONTAINER_PATH}:ro`],
    });
    assert.equal(denied.info.Config.User, "65534:65534");
    const owner = (await Deno.stat(private600.hostPath)).uid;
    if (owner !== 65534) assert.notEqual(denied.exitCode, 0);

    const readable644 = await writeCertificateFile(certificate, {
      parentDirectory: parent,
      fileMode: 0o644,
    });
    const allowed = await runContainer(settings, {
      run,
      binds: [`${readable644.hostPath}:${CLIENT_CERT_CONTAINER_PATH}:ro`],
    });
    assert.equal(allowed.exitCode, 0);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
