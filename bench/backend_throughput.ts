/**
 * Jobs per hour one daemon drives on the Docker backend and on the Swarm
 * backend: N jobs of `true` queued at once, drained with MaxConcurrentJobs
 * 4, for `docs/scaling.md`. The engine must be a swarm manager for the Swarm
 * run (`docker swarm init --advertise-addr 127.0.0.1`).
 *
 * Run: deno task bench-backends [COUNT]
 *
 * @module
 */
import { processIo } from "../src/cli/command_io.ts";
import { loadSettings } from "../src/config/load_settings.ts";
import { startDaemon } from "../src/daemon/start_daemon.ts";
import { startReferenceApi } from "../src/reference_api/server.ts";

const IMAGE = "iam-orchestrator-test/busybox:latest";

async function drain(backend: string, count: number): Promise<number> {
  const api = await startReferenceApi({ keepLogEntries: false });
  const state = await Deno.makeTempDir({ prefix: "iam-bench-backend-" });
  const { settings } = await loadSettings({
    env: {},
    flags: Object.entries({
      "ApiSettings:BaseUrl": api.url,
      "ApiSettings:PollingIntervalSeconds": "0.1",
      "OrchestratorSettings:StateDirectory": state,
      "ContainerSettings:MaxConcurrentJobs": "4",
      "ContainerSettings:Backend": backend,
    }).map(([key, value]) => ({ key, value, flag: "bench" })),
  });

  let finished = 0;
  const done = Promise.withResolvers<void>();
  const daemon = await startDaemon(settings, {
    version: "bench",
    onJobFinished: () => {
      finished++;
      if (finished === count) done.resolve();
    },
  });

  const started = performance.now();
  for (let i = 0; i < count; i++) {
    api.addJob({
      name: `backend ${i}`,
      customer: "benchmark",
      containerImage: IMAGE,
      jobType: "OneOff",
      parameters: { RUN: "true" },
    });
  }
  const timer = setTimeout(
    () =>
      done.reject(
        new Error(
          `The ${backend} run did not finish ${count} jobs within 15 minutes`,
        ),
      ),
    15 * 60_000,
  );
  try {
    await done.promise;
  } finally {
    clearTimeout(timer);
  }
  const seconds = (performance.now() - started) / 1000;
  await daemon.shutdown();
  await api.close();
  await Deno.remove(state, { recursive: true });
  return seconds;
}

const count = Number(Deno.args[0] ?? "20");
for (const backend of ["Docker", "Swarm"]) {
  const seconds = await drain(backend, count);
  const perHour = Math.round(count / seconds * 3600);
  processIo.stdout(
    `${backend}: ${count} jobs in ${seconds.toFixed(1)} s, ` +
      `${perHour} jobs per hour at MaxConcurrentJobs 4`,
  );
}
