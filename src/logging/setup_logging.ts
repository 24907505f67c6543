/**
 * The daemon's own log: LogTape records on standard error, as readable lines
 * on a terminal and as JSON lines otherwise or when asked.
 *
 * @module
 */
import {
  configure,
  getJsonLinesFormatter,
  getLogger,
  getTextFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import type { Settings } from "../config/settings.ts";

/** Root category of every record the daemon writes. */
export const ROOT_CATEGORY = "iam-orchestrator";

const LEVELS: Record<Settings["logging"]["level"], LogLevel> = {
  Trace: "trace",
  Debug: "debug",
  Information: "info",
  Warning: "warning",
  Error: "error",
  Critical: "fatal",
};

/** Returns a logger below the daemon's root category. */
export function daemonLogger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}

// Structured fields shown after a text line's message, so that a person on
// a terminal sees the job id and customer as a JSON reader would.
function withProperties(format: (record: LogRecord) => string) {
  return (record: LogRecord): string => {
    const line = format(record);
    const fields = Object.entries(record.properties)
      .filter(([name]) => !record.rawMessage.includes(`{${name}}`))
      .map(([name, value]) => `${name}=${formatField(value)}`);
    return fields.length === 0
      ? line
      : `${line.replace(/\n$/, "")} ${fields.join(" ")}\n`;
  };
}

function formatField(value: unknown): string {
  return typeof value === "string" && !/\s/.test(value)
    ? value
    : JSON.stringify(value);
}

// Standard error's writable stream can be locked by one writer only, so the
// sinks built on it are made once per format and reused by later setups.
const stderrSinks = new Map<boolean, Sink>();
let stderrWriter: WritableStreamDefaultWriter<Uint8Array> | null = null;
const encoder = new TextEncoder();

function stderrSink(json: boolean, formatter: (record: LogRecord) => string) {
  let sink = stderrSinks.get(json);
  if (sink === undefined) {
    sink = (record: LogRecord) => {
      stderrWriter ??= Deno.stderr.writable.getWriter();
      stderrWriter.write(encoder.encode(formatter(record))).catch(() => {
        // Standard error closed: nothing is left to report the loss to.
      });
    };
    stderrSinks.set(json, sink);
  }
  return sink;
}

/**
 * Configures LogTape for the daemon. `sink` replaces standard error, as
 * tests do to capture records.
 */
export async function setupLogging(
  logging: Settings["logging"],
  options: { sink?: Sink; isTerminal?: boolean } = {},
): Promise<void> {
  const isTerminal = options.isTerminal ?? Deno.stderr.isTerminal();
  const json = logging.format === "Json" ||
    (logging.format === "Auto" && !isTerminal);
  const formatter = json
    ? getJsonLinesFormatter({ properties: "flatten" })
    : withProperties(getTextFormatter({ timestamp: "rfc3339", value: "bare" }));
  const sink = options.sink ?? stderrSink(json, formatter);
  await configure({
    reset: true,
    sinks: { main: sink },
    loggers: [
      {
        category: [ROOT_CATEGORY],
        lowestLevel: LEVELS[logging.level],
        sinks: ["main"],
      },
      {
        category: ["logtape", "meta"],
        lowestLevel: "warning",
        sinks: ["main"],
      },
    ],
  });
}
