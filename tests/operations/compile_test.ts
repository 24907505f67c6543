import assert from "node:assert/strict";
import {
  compileArgs,
  defaultDockerSocket,
  describeCompileFailure,
  isRuntimeDownloadFailure,
  main,
  outputPath,
  permissionFlags,
  type PermissionProfile,
  REPOSITORY_ROOT,
  type Target,
} from "../../scripts/compile.ts";
import { DaemonMetrics } from "../../src/operations/metrics.ts";
import { Readiness } from "../../src/operations/readiness.ts";
import { startStatusServer } from "../../src/operations/status_server.ts";
import { VERSION } from "../../src/version.ts";
import { captureIo } from "../cli/command_output.ts";
import { TEST_IMAGE } from "../support/jobs.ts";

const PROFILE: PermissionProfile = {
  stateDirectory: "/var/lib/iam-orchestrator",
  configFile: "/etc/iam-orchestrator/appsettings.json",
  dockerSocket: "/var/run/docker.sock",
  netHosts: null,
  extraRead: [],
};

// The error deno compile 2.9.6 printed on a machine without access to
// Deno's download server.
const DOWNLOAD_ERROR = [
  "Download https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip",
  "error: Writing deno compile executable to temporary file 'x'",
  "Caused by:",
  "    0: Setting up base binary.",
  "    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error",
].join("\n");

const HOST_TARGET = Deno.build.target as Target;

// A fixed place for the built binary, so that the test task can allow
// running exactly that file.
const BUILD_DIRECTORY = "/tmp/iam-orchestrator-compile-test";

Deno.test("permissionFlags grants no blanket permission", () => {
  const flags = permissionFlags(PROFILE);
  assert.ok(!flags.includes("-A"));
  assert.ok(!flags.includes("--allow-all"));
  assert.ok(!flags.some((flag) => flag.startsWith("--allow-run")));
  assert.ok(!flags.some((flag) => flag.startsWith("--allow-ffi")));
  assert.deepEqual(flags, [
    "--allow-net",
    "--allow-read=/etc/iam-orchestrator/appsettings.json," +
    "/var/lib/iam-orchestrator,/var/run/docker.sock",
    "--allow-write=/var/lib/iam-orchestrator,/var/run/docker.sock",
    "--allow-env",
    "--allow-sys=hostname",
  ]);
});

Deno.test("permissionFlags narrows the network to listed hosts", () => {
  const flags = permissionFlags({
    ...PROFILE,
    netHosts: ["iam.example.com:443"],
    extraRead: ["/etc/docker-certs"],
  });
  assert.equal(
    flags[0],
    "--allow-net=iam.example.com:443,127.0.0.1,localhost,[::1],0.0.0.0," +
      "unix:/var/run/docker.sock",
  );
  assert.match(flags[1], /,\/etc\/docker-certs$/);
});

Deno.test("permissionFlags leaves out a missing socket", () => {
  const flags = permissionFlags({ ...PROFILE, dockerSocket: null });
  assert.equal(flags[2], "--allow-write=/var/lib/iam-orchestrator");
});

Deno.test("outputPath adds .exe for Windows only", () => {
  assert.equal(
    outputPath("dist", "x86_64-pc-windows-msvc"),
    "dist/iam-orchestrator-x86_64-pc-windows-msvc.exe",
  );
  assert.equal(
    outputPath("dist", "aarch64-apple-darwin"),
    "dist/iam-orchestrator-aarch64-apple-darwin",
  );
  assert.equal(
    defaultDockerSocket("x86_64-pc-windows-msvc"),
    "\\\\.\\pipe\\docker_engine",
  );
});

Deno.test("compileArgs names target, output and entry point", () => {
  const args = compileArgs("aarch64-unknown-linux-gnu", {
    outDirectory: "out",
    profile: PROFILE,
    root: "/repo",
  });
  assert.deepEqual(args.slice(0, 7), [
    "compile",
    "--config",
    "/repo/deno.json",
    "--target",
    "aarch64-unknown-linux-gnu",
    "--output",
    "out/iam-orchestrator-aarch64-unknown-linux-gnu",
  ]);
  assert.equal(args.at(-1), "/repo/src/main.ts");
  assert.equal(args.at(-2), "--v8-flags=--optimize-for-size");
});

Deno.test("isRuntimeDownloadFailure detects the download error", () => {
  assert.equal(isRuntimeDownloadFailure(DOWNLOAD_ERROR), true);
  assert.equal(
    isRuntimeDownloadFailure("error: TS2307 Cannot find module"),
    false,
  );
});

Deno.test("describeCompileFailure points to DENORT_BIN for the host", () => {
  const host = describeCompileFailure("x86_64-unknown-linux-gnu", {
    stderr: DOWNLOAD_ERROR,
    hostTarget: "x86_64-unknown-linux-gnu",
    denortBin: null,
  });
  assert.match(host, /could not download the Deno runtime/);
  assert.match(host, /set DENORT_BIN/);
  const other = describeCompileFailure("aarch64-apple-darwin", {
    stderr: DOWNLOAD_ERROR,
    hostTarget: "x86_64-unknown-linux-gnu",
    denortBin: "/opt/denort",
  });
  assert.match(other, /DENORT_BIN serves only the host target/);
  const typeError = describeCompileFailure("aarch64-apple-darwin", {
    stderr: "error: TS2307 Cannot find module",
    hostTarget: "x86_64-unknown-linux-gnu",
    denortBin: null,
  });
  assert.equal(
    typeError,
    "Building aarch64-apple-darwin failed:\nerror: TS2307 Cannot find module",
  );
});

Deno.test("compile dry run passes DENORT_BIN to the host target only", async () => {
  const previous = Deno.env.get("DENORT_BIN");
  Deno.env.set("DENORT_BIN", "/opt/denort");
  try {
    const other = HOST_TARGET === "aarch64-apple-darwin"
      ? "x86_64-apple-darwin"
      : "aarch64-apple-darwin";
    const io = captureIo();
    const code = await main([
      "--dry-run",
      "--target",
      HOST_TARGET,
      "--target",
      other,
    ], io);
    assert.equal(code, 0, io.err.join("\n"));
    assert.equal(io.out.length, 2);
    assert.match(io.out[0], /^DENORT_BIN=\/opt\/denort deno compile /);
    assert.match(io.out[1], /^deno compile /);
    assert.match(io.out[1], new RegExp(`--target ${other}`));
  } finally {
    if (previous === undefined) Deno.env.delete("DENORT_BIN");
    else Deno.env.set("DENORT_BIN", previous);
  }
});

Deno.test("compile rejects an unknown target", async () => {
  const io = captureIo();
  assert.equal(await main(["--dry-run", "--target", "riscv64"], io), 2);
  assert.match(io.err.join("\n"), /Unknown target "riscv64"/);
});

// The baked-in permissions, tried with `deno run` because that needs no
// downloaded runtime: exec must reach the engine and run a job with them.
Deno.test({
  name: "compile permission profile runs a job",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const directory = await Deno.makeTempDir();
    try {
      const entry = `${directory}/entry.ts`;
      await Deno.writeTextFile(
        entry,
        [
          `import { runExecCommand } from "${REPOSITORY_ROOT}/src/cli/exec_command.ts";`,
          `import { processIo } from "${REPOSITORY_ROOT}/src/cli/command_io.ts";`,
          "Deno.exit(await runExecCommand(Deno.args, processIo));",
        ].join("\n"),
      );
      const flags = permissionFlags({
        ...PROFILE,
        stateDirectory: "state",
        configFile: "appsettings.json",
      });
      const output = await new Deno.Command("deno", {
        args: [
          "run",
          "--config",
          `${REPOSITORY_ROOT}/deno.json`,
          ...flags,
          entry,
          "--image",
          TEST_IMAGE,
          "--param",
          "RUN=echo profile works",
        ],
        cwd: directory,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      assert.equal(new TextDecoder().decode(output.stdout), "profile works\n");
    } finally {
      await Deno.remove(directory, { recursive: true });
    }
  },
});

/**
 * Why the build test cannot run here, or null when it can. A quick build of
 * a one-line program shows whether deno compile can get its runtime.
 */
async function compileUnavailableReason(): Promise<string | null> {
  const run = await Deno.permissions.query({
    name: "run",
    command: outputPath(BUILD_DIRECTORY, HOST_TARGET),
  });
  if (run.state !== "granted") {
    return `running the built binary needs --allow-run=${
      outputPath(BUILD_DIRECTORY, HOST_TARGET)
    }`;
  }
  const directory = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${directory}/probe.ts`, "Deno.exit(0);\n");
    const output = await new Deno.Command("deno", {
      args: [
        "compile",
        "--output",
        `${directory}/probe`,
        `${directory}/probe.ts`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    if (
      output.code !== 0 && isRuntimeDownloadFailure(stderr) &&
      Deno.env.get("DENORT_BIN") === undefined
    ) {
      return "deno compile cannot download its runtime and DENORT_BIN is unset";
    }
    return null;
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}

const unavailable = await compileUnavailableReason();

Deno.test({
  name: unavailable === null
    ? "compile builds a runnable binary"
    : `compile builds a runnable binary (ignored: ${unavailable})`,
  ignore: unavailable !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const directory = BUILD_DIRECTORY;
    await Deno.mkdir(directory, { recursive: true });
    const server = await startStatusServer({
      hostname: "127.0.0.1",
      port: 0,
      metrics: new DaemonMetrics(),
      readiness: new Readiness(1000),
    });
    try {
      const io = captureIo();
      const code = await main([
        "--target",
        HOST_TARGET,
        "--out-dir",
        directory,
      ], io);
      assert.equal(code, 0, io.err.join("\n"));
      const binary = outputPath(directory, HOST_TARGET);

      const version = await new Deno.Command(binary, {
        args: ["--version"],
        stdout: "piped",
      }).output();
      assert.equal(version.code, 0);
      assert.equal(new TextDecoder().decode(version.stdout).trim(), VERSION);

      const health = await new Deno.Command(binary, {
        args: ["healthcheck", "--url", `${server.url}/healthz`],
        cwd: directory,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(
        health.code,
        0,
        new TextDecoder().decode(health.stderr),
      );
    } finally {
      await server.close();
      await Deno.remove(directory, { recursive: true });
    }
  },
});
