/**
 * The output streams of a command, replaceable so that tests can capture them.
 *
 * @module
 */

/** Output of a command: each call writes one line or block of text. */
export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Writes to the process's standard output and error. */
export const processIo: CommandIo = {
  stdout: (text) => writeLine(Deno.stdout, text),
  stderr: (text) => writeLine(Deno.stderr, text),
};

const encoder = new TextEncoder();

function writeLine(stream: { writeSync(p: Uint8Array): number }, text: string) {
  const bytes = encoder.encode(`${text}\n`);
  let written = 0;
  while (written < bytes.length) {
    written += stream.writeSync(bytes.subarray(written));
  }
}
