/**
 * Runs the daemon as a child process, so that tests can kill it with
 * SIGKILL or SIGTERM and start it again on the same state directory.
 *
 * @module
 */

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;
const SOCKET = "/var/run/docker.sock";

/** A daemon child process and what it wrote to standard error. */
export interface DaemonProcess {
  child: Deno.ChildProcess;
  /** Everything the daemon logged so far. */
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number>;
}

/** Starts `iam-orchestrator run` with these settings as `--set` flags. */
export function spawnDaemon(settings: Record<string, string>): DaemonProcess {
  const args = [
    "run",
    "--allow-net=127.0.0.1,localhost,unix:" + SOCKET,
    `--allow-read=.,/tmp,${SOCKET}`,
    `--allow-write=/tmp,${SOCKET}`,
    "--allow-env",
    "--allow-sys=hostname",
    MAIN,
    "run",
    ...Object.entries({ "Logging:Format": "Json", ...settings }).flatMap((
      [key, value],
    ) => ["--set", `${key}=${value}`]),
  ];
  // "deno" from PATH, which `--allow-run=deno` covers; Deno.execPath() may be
  // the real binary behind that link, which it does not.
  const child = new Deno.Command("deno", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk);
  };
  const streams = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const exited = child.status.then(async (status) => {
    await streams;
    return status.code;
  });
  return { child, output: () => text, exited };
}

/** Waits until `check` returns true, polling every 50 ms, or fails. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}
