/**
 * A CommandIo that keeps what a command writes, for tests.
 *
 * @module
 */
import type { CommandIo } from "../../src/cli/command_io.ts";

/** Captured output of a command, one array item per write. */
export interface CapturedIo extends CommandIo {
  readonly out: string[];
  readonly err: string[];
}

/** Returns a CommandIo that records every write. */
export function captureIo(): CapturedIo {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  };
}
