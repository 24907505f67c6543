/**
 * The daemon's own log: LogTape records on standard error, as readable lines
 * on a terminal and as JSON lines otherwise or when asked.
 *
 * @module
 */
import {
  configure,
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

/**
 * Replaces an Error by its message. JSON.stringify would keep only its
 * enumerable fields, which leave the message out.
 */
function plainValue(value: unknown): unknown {
  return value instanceof Error ? value.message : value;
}

/** Renders a message with its values, strings without quotes. */
function renderMessage(record: LogRecord): string {
  return record.message
    .map((part, index) => {
      const value = plainValue(part);
      return index % 2 === 0 || typeof value === "string"
        ? String(value)
        : JSON.stringify(value) ?? String(value);
    })
    .join("");
}

function plainProperties(
  properties: Record<string, unknown>,
): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(properties)) {
    plain[name] = plainValue(value);
  }
  return plain;
}

const LEVEL_NAMES: Record<LogLevel, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARN",
  error: "ERROR",
  fatal: "FATAL",
};

/** Formats one JSON object per line: time, level, logger, message, then the fields. */
function formatJsonLine(record: LogRecord): string {
  return JSON.stringify({
    "@timestamp": new Date(record.timestamp).toISOString(),
    level: LEVEL_NAMES[record.level],
    logger: record.category.join("."),
    message: renderMessage(record),
    ...plainProperties(record.properties),
  }) + "\n";
}

function formatField(field: unknown): string {
  const value = plainValue(field);
  return typeof value === "string" && !/\s/.test(value)
    ? value
    : JSON.stringify(value);
}

// Records are written synchronously, so that the last lines before an exit
// are not lost in a stream buffer.
const encoder = new TextEncoder();

function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  try {
    while (written < bytes.length) {
      written += Deno.stderr.writeSync(bytes.subarray(written));
    }
  } catch {
    // Standard error closed: nothing is left to report the loss to.
  }
}

/**
 * Configures LogTape for the daemon. `write` receives each formatted record
 * in place of standard error, and `sink` each unformatted one, as tests do
 * to capture them.
 */
export async function setupLogging(
  logging: Settings["logging"],
  options: {
    sink?: Sink;
    write?: (text: string) => void;
    isTerminal?: boolean;
  } = {},
): Promise<void> {
  const isTerminal = options.isTerminal ?? Deno.stderr.isTerminal();
  const json = logging.format === "Json" ||
    (logging.format === "Auto" && !isTerminal);
  const formatter = json
    ? formatJsonLine
    : withProperties(getTextFormatter({ timestamp: "rfc3339", value: "bare" }));
  const write = options.write ?? writeStderr;
  const sink: Sink = options.sink ??
    ((record: LogRecord) => write(formatter(record)));
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
