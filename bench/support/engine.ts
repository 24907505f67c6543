/**
 * Direct runs on the Docker engine through dockerode, without the daemon:
 * the floor and ceiling that the daemon's numbers are compared with.
 *
 * @module
 */
// @ts-types="@types/dockerode"
import Docker from "dockerode";
import { LABELS } from "../../src/execution/job_labels.ts";

/** The engine socket every benchmark uses; only loopback traffic. */
export const DOCKER_SOCKET = "/var/run/docker.sock";

/** Image built by tests/setup/build_test_images.sh; `RUN` is run as shell. */
export const BENCH_IMAGE = "iam-orchestrator-test/busybox:latest";

/** Label on the containers that benchmarks start directly. */
export const BENCH_LABEL = "io.iam-orchestrator.benchmark";

/** Customer of the jobs that benchmarks give the daemon. */
export const BENCH_CUSTOMER = "benchmark";

/** Returns a dockerode client for the local engine. */
export function engineClient(): Docker {
  return new Docker({ socketPath: DOCKER_SOCKET });
}

/**
 * Checks that the engine responds and the benchmark image exists.
 *
 * @throws {Error} naming the script that builds the image when it is missing
 */
export async function requireBenchImage(docker: Docker): Promise<void> {
  try {
    await docker.getImage(BENCH_IMAGE).inspect();
  } catch (error) {
    throw new Error(
      `Image ${BENCH_IMAGE} is not on the engine at ${DOCKER_SOCKET} ` +
        `(${(error as Error).message}); build it with ` +
        `bash tests/setup/build_test_images.sh`,
    );
  }
}

/** Durations of the four engine calls of one direct run, in ms. */
export interface DirectRunTimes {
  create: number;
  start: number;
  wait: number;
  remove: number;
  total: number;
}

/**
 * Creates, starts, waits for and removes one container of the benchmark
 * image that runs `command`: the engine calls the daemon makes for a job,
 * without anything around them.
 *
 * @throws {Error} when the container exits with a code other than 0
 */
export async function runDirect(
  docker: Docker,
  command: string,
): Promise<DirectRunTimes> {
  const t0 = performance.now();
  const container = await docker.createContainer({
    Image: BENCH_IMAGE,
    Env: [`RUN=${command}`],
    Labels: { [BENCH_LABEL]: "direct" },
    Tty: false,
    HostConfig: { AutoRemove: false },
  });
  const t1 = performance.now();
  let exitCode = -1;
  let t2 = t1;
  let t3 = t1;
  try {
    await container.start();
    t2 = performance.now();
    const result = await container.wait() as { StatusCode: number };
    exitCode = result.StatusCode;
    t3 = performance.now();
  } finally {
    await container.remove({ force: true, v: true });
  }
  const t4 = performance.now();
  if (exitCode !== 0) {
    throw new Error(
      `Direct run of "${command}" exited with code ${exitCode}; check that ` +
        `${BENCH_IMAGE} runs the RUN variable as a shell command`,
    );
  }
  return {
    create: t1 - t0,
    start: t2 - t1,
    wait: t3 - t2,
    remove: t4 - t3,
    total: t4 - t0,
  };
}

/**
 * Makes the engine calls that the daemon's Docker backend makes for one
 * job, without the daemon. They are an image inspect, create, start, a
 * followed log stream read to its end, wait, inspect, a second inspect and
 * log read after the stream ended, and remove. Returns the wall time in ms.
 *
 * @throws {Error} when the container exits with a code other than 0
 */
export async function runDirectWithDaemonCalls(
  docker: Docker,
  command: string,
): Promise<number> {
  const t0 = performance.now();
  await docker.getImage(BENCH_IMAGE).inspect();
  const container = await docker.createContainer({
    Image: BENCH_IMAGE,
    Env: [`RUN=${command}`],
    Labels: { [BENCH_LABEL]: "direct-daemon-calls" },
    Tty: false,
    HostConfig: { AutoRemove: false },
  });
  try {
    await container.start();
    const stream = await container.logs({
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
    }) as unknown as AsyncIterable<Uint8Array>;
    const drained = (async () => {
      for await (const _chunk of stream) {
        // Read and dropped, as a log consumer without output would.
      }
    })();
    const result = await container.wait() as { StatusCode: number };
    await container.inspect();
    await drained;
    await container.inspect();
    await container.logs({
      follow: false,
      stdout: true,
      stderr: true,
      timestamps: true,
    });
    if (result.StatusCode !== 0) {
      throw new Error(
        `Direct run of "${command}" exited with code ${result.StatusCode}`,
      );
    }
  } finally {
    await container.remove({ force: true, v: true });
  }
  return performance.now() - t0;
}

/** The set of engine calls that each direct run of a pool makes. */
export type DirectRunKind = "minimal" | "daemon-calls";

/**
 * Runs `count` direct runs of `command` with `parallelism` at a time and
 * returns the wall time in ms. `minimal` runs make the four calls of
 * {@linkcode runDirect}; `daemon-calls` runs those of
 * {@linkcode runDirectWithDaemonCalls}.
 */
export async function runDirectPool(
  docker: Docker,
  command: string,
  options: { count: number; parallelism: number; kind?: DirectRunKind },
): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < options.count) {
      next++;
      if (options.kind === "daemon-calls") {
        await runDirectWithDaemonCalls(docker, command);
      } else {
        await runDirect(docker, command);
      }
    }
  };
  const t0 = performance.now();
  const workers = Array.from(
    { length: Math.min(options.parallelism, options.count) },
    () => worker(),
  );
  await Promise.all(workers);
  return performance.now() - t0;
}

/**
 * Removes containers that an interrupted benchmark left behind: direct runs
 * and the daemon's containers of the benchmark customer.
 */
export async function removeBenchContainers(docker: Docker): Promise<number> {
  const direct = await docker.listContainers({
    all: true,
    filters: { label: [BENCH_LABEL] },
  });
  const daemon = await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.customer}=${BENCH_CUSTOMER}`] },
  });
  const containers = [...direct, ...daemon];
  for (const info of containers) {
    await docker.getContainer(info.Id).remove({ force: true, v: true });
  }
  return containers.length;
}
