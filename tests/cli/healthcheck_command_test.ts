import assert from "node:assert/strict";
import {
  connectHost,
  runHealthcheckCommand,
} from "../../src/cli/healthcheck_command.ts";
import { DaemonMetrics } from "../../src/operations/metrics.ts";
import { Readiness } from "../../src/operations/readiness.ts";
import {
  startStatusServer,
  type StatusServer,
} from "../../src/operations/status_server.ts";
import { captureIo } from "./command_output.ts";

async function withStatusServer(fn: (server: StatusServer) => Promise<void>) {
  const server = await startStatusServer({
    hostname: "127.0.0.1",
    port: 0,
    metrics: new DaemonMetrics(),
    // Never ready: no poll succeeds, so /readyz returns 503.
    readiness: new Readiness(1000),
  });
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

async function withSettingsFile(
  content: unknown,
  fn: (path: string) => Promise<void>,
) {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, JSON.stringify(content));
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("healthcheck exits 0 when healthz answers 200", async () => {
  await withStatusServer(async (server) => {
    const io = captureIo();
    const code = await runHealthcheckCommand(
      ["--url", `${server.url}/healthz`],
      io,
    );
    assert.equal(code, 0);
    assert.match(io.out.join("\n"), /returned 200/);
  });
});

Deno.test("healthcheck exits 1 on status 503", async () => {
  await withStatusServer(async (server) => {
    const io = captureIo();
    const code = await runHealthcheckCommand(
      ["--url", `${server.url}/readyz`],
      io,
    );
    assert.equal(code, 1);
    assert.match(io.err.join("\n"), /returned 503: not ready/);
  });
});

Deno.test("healthcheck exits 1 when nothing listens", async () => {
  let url = "";
  await withStatusServer((server) => {
    url = `${server.url}/healthz`;
    return Promise.resolve();
  });
  const io = captureIo();
  assert.equal(await runHealthcheckCommand(["--url", url], io), 1);
  assert.match(io.err.join("\n"), /requesting .* failed/);
});

Deno.test("healthcheck exits 1 when the answer times out", async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let listening!: (port: number) => void;
  const port = new Promise<number>((resolve) => {
    listening = resolve;
  });
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (address) => listening(address.port),
  }, async () => {
    await released;
    return new Response("late");
  });
  try {
    const io = captureIo();
    const code = await runHealthcheckCommand(
      ["--url", `http://127.0.0.1:${await port}/healthz`, "--timeout", "0.2"],
      io,
    );
    assert.equal(code, 1);
    assert.match(io.err.join("\n"), /no answer within 0\.2 s/);
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("healthcheck takes the port from the settings file", async () => {
  await withStatusServer(async (server) => {
    const port = new URL(server.url).port;
    await withSettingsFile(
      {
        OrchestratorSettings: {
          StatusPort: Number(port),
          StatusHost: "0.0.0.0",
        },
      },
      async (path) => {
        const io = captureIo();
        const code = await runHealthcheckCommand(["--config", path], io);
        assert.equal(code, 0, io.err.join("\n"));
        assert.match(
          io.out.join("\n"),
          new RegExp(`127\\.0\\.0\\.1:${port}/healthz`),
        );
      },
    );
  });
});

Deno.test("healthcheck takes the port from --set", async () => {
  await withStatusServer(async (server) => {
    const port = new URL(server.url).port;
    await withSettingsFile({}, async (path) => {
      const io = captureIo();
      const code = await runHealthcheckCommand(
        ["--config", path, "--set", `OrchestratorSettings:StatusPort=${port}`],
        io,
      );
      assert.equal(code, 0, io.err.join("\n"));
    });
  });
});

Deno.test("healthcheck exits 1 without a status port", async () => {
  await withSettingsFile({}, async (path) => {
    const io = captureIo();
    assert.equal(await runHealthcheckCommand(["--config", path], io), 1);
    assert.match(io.err.join("\n"), /OrchestratorSettings:StatusPort/);
  });
});

Deno.test("healthcheck exits 2 on an unknown option", async () => {
  const io = captureIo();
  assert.equal(await runHealthcheckCommand(["--bogus"], io), 2);
  assert.match(io.err.join("\n"), /Usage: iam-orchestrator healthcheck/);
});

Deno.test("healthcheck exits 2 on an invalid timeout", async () => {
  const io = captureIo();
  const code = await runHealthcheckCommand(
    ["--url", "http://127.0.0.1:1/healthz", "--timeout", "soon"],
    io,
  );
  assert.equal(code, 2);
  assert.match(io.err.join("\n"), /Invalid --timeout "soon"/);
});

Deno.test("healthcheck prints help and version", async () => {
  const help = captureIo();
  assert.equal(await runHealthcheckCommand(["--help"], help), 0);
  assert.match(help.out.join("\n"), /--url URL/);
  assert.match(help.out.join("\n"), /default 5\)/);
  const version = captureIo();
  assert.equal(await runHealthcheckCommand(["--version"], version), 0);
  assert.match(version.out.join("\n"), /^\d+\.\d+\.\d+/);
});

Deno.test("connectHost maps wildcard addresses to loopback", () => {
  assert.equal(connectHost("0.0.0.0"), "127.0.0.1");
  assert.equal(connectHost(""), "127.0.0.1");
  assert.equal(connectHost("::"), "[::1]");
  assert.equal(connectHost("::1"), "[::1]");
  assert.equal(connectHost("10.0.0.5"), "10.0.0.5");
  assert.equal(connectHost("status.local"), "status.local");
});
