/**
 * Parsing of a command's arguments with the options every command shares:
 * `--help`, `--version`, and exit code 2 for invalid options.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { VERSION } from "../version.ts";
import type { CommandIo } from "./command_io.ts";

/** Exit code for invalid options, as the commands document. */
export const USAGE_EXIT_CODE = 2;

/** Parsed option values, or the exit code when the command is done. */
export type ParsedArgs =
  | { values: Record<string, unknown>; positionals: string[] }
  | { exitCode: number };

/**
 * Parses `args` against `options` plus `--help` and `--version`. Prints the
 * help or the version and returns exit code 0 for those. For an invalid
 * option, prints the error and the help and returns 2.
 */
export function parseCommandArgs(
  args: string[],
  io: CommandIo,
  command: {
    options: NonNullable<ParseArgsConfig["options"]>;
    help: string;
    allowPositionals?: boolean;
  },
): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        ...command.options,
        help: { type: "boolean" },
        version: { type: "boolean" },
      },
      strict: true,
      allowPositionals: command.allowPositionals ?? false,
    });
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${command.help}`);
    return { exitCode: USAGE_EXIT_CODE };
  }
  if (parsed.values.help) {
    io.stdout(command.help);
    return { exitCode: 0 };
  }
  if (parsed.values.version) {
    io.stdout(VERSION);
    return { exitCode: 0 };
  }
  return {
    values: parsed.values as Record<string, unknown>,
    positionals: parsed.positionals,
  };
}
