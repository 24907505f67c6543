/**
 * Command-line entry point of iam-orchestrator.
 *
 * @module
 */
import { type CommandIo, processIo } from "./cli/command_io.ts";
import { VERSION } from "./version.ts";

type Command = (args: string[], io: CommandIo) => Promise<number> | number;

// Commands load on demand, so `cron --help` does not load the Docker client
// and needs no permission that only the daemon uses.
const COMMANDS: Record<
  string,
  { load: () => Promise<Command>; summary: string }
> = {
  run: {
    load: async () => (await import("./cli/run_command.ts")).runRunCommand,
    summary: "Poll the IAM API and run its jobs (the default command)",
  },
  dev: {
    load: async () => (await import("./cli/dev_command.ts")).runDevCommand,
    summary: "Run the example jobs against a built-in IAM API on loopback",
  },
  exec: {
    load: async () => (await import("./cli/exec_command.ts")).runExecCommand,
    summary: "Run one job in a container as the daemon would, without an API",
  },
  healthcheck: {
    load: async () =>
      (await import("./cli/healthcheck_command.ts")).runHealthcheckCommand,
    summary: "Exit 0 when the status server's /healthz answers 200",
  },
  cron: {
    load: async () =>
      (await import("./scheduling/cron_command.ts")).runCronCommand,
    summary: "Print the next fire times of a cron expression",
  },
  "reference-api": {
    load: async () => {
      const { runServeCommand } = await import(
        "./reference_api/serve_command.ts"
      );
      return (args, io) =>
        runServeCommand(args, { print: io.stdout, printError: io.stderr });
    },
    summary: "Serve the reference IAM API on loopback",
  },
};

const HELP = [
  `iam-orchestrator ${VERSION}`,
  "",
  "Usage: iam-orchestrator [COMMAND] [options]",
  "",
  "Commands:",
  ...Object.entries(COMMANDS).map(([name, { summary }]) =>
    `  ${name.padEnd(15)} ${summary}`
  ),
  "",
  "Run `iam-orchestrator COMMAND --help` for a command's options.",
].join("\n");

/** Runs the command named by `args` and returns its exit code. */
export async function main(args: string[], io: CommandIo): Promise<number> {
  const [first, ...rest] = args;
  if (first === "--help" || first === "-h" || first === "help") {
    io.stdout(HELP);
    return 0;
  }
  if (first === "--version") {
    io.stdout(VERSION);
    return 0;
  }
  if (first === undefined || first.startsWith("-")) {
    return await (await COMMANDS.run.load())(args, io);
  }
  const command = COMMANDS[first];
  if (command === undefined) {
    io.stderr(`Unknown command "${first}"\n\n${HELP}`);
    return 2;
  }
  return await (await command.load())(rest, io);
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args, processIo));
}
