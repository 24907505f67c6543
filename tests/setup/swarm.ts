/**
 * Makes the local Docker engine a one-node swarm manager for tests, and
 * undoes it only when this process made it one. Plain containers keep
 * working on a swarm node, so tests that use them are not affected.
 *
 * @module
 */

let createdByUs = false;

async function docker(...args: string[]): Promise<string> {
  const output = await new Deno.Command("docker", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `docker ${args.join(" ")} failed: ${
        decoder.decode(output.stderr).trim()
      }`,
    );
  }
  return decoder.decode(output.stdout).trim();
}

/** Returns the engine's swarm state, such as "inactive" or "active". */
export function swarmState(): Promise<string> {
  return docker("info", "--format", "{{.Swarm.LocalNodeState}}");
}

/**
 * Makes the engine a swarm manager on 127.0.0.1 unless it is part of a
 * swarm already. Returns true when this call created the swarm.
 *
 * @throws {Error} when the engine is in another swarm state, such as
 * "pending" or "locked", which a test must not change
 */
export async function ensureSwarm(): Promise<boolean> {
  const state = await swarmState();
  if (state === "active") return false;
  if (state !== "inactive") {
    throw new Error(
      `The Docker engine's swarm state is "${state}"; expected "active" or ` +
        `"inactive". Fix the engine's swarm membership before the tests`,
    );
  }
  try {
    await docker("swarm", "init", "--advertise-addr", "127.0.0.1");
  } catch (error) {
    // Another process may have created it in the meantime; then it is theirs.
    if (/already part of a swarm/.test((error as Error).message)) return false;
    throw error;
  }
  createdByUs = true;
  return true;
}

/** Leaves the swarm when {@linkcode ensureSwarm} created it. */
export async function leaveSwarmIfCreated(): Promise<void> {
  if (!createdByUs) return;
  await docker("swarm", "leave", "--force");
  createdByUs = false;
}
