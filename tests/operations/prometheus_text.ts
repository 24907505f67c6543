/**
 * A small parser of the Prometheus text exposition format for tests:
 * sample lines `name{label="value",...} value [timestamp]`; comments and
 * blank lines are skipped.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function parseValue(text: string, line: string): number {
  switch (text) {
    case "+Inf":
      return Infinity;
    case "-Inf":
      return -Infinity;
    case "NaN":
      return NaN;
  }
  const value = Number(text);
  if (Number.isNaN(value)) {
    throw new SyntaxError(`Invalid sample value "${text}" in line: ${line}`);
  }
  return value;
}

function unescapeLabel(text: string): string {
  return text.replace(
    /\\(.)/g,
    (_, character: string) => character === "n" ? "\n" : character,
  );
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (match === null) {
      throw new SyntaxError(
        `Invalid labels at offset ${start} in line: ${line}`,
      );
    }
    labels[match[1]] = unescapeLabel(match[2]);
    if (match[3] === "") break;
  }
  return labels;
}

/**
 * Parses every sample line.
 *
 * @throws {SyntaxError} on a line that is neither a comment nor a sample
 */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) {
      throw new SyntaxError(`Invalid sample line: ${line}`);
    }
    samples.push({
      name: match[1],
      labels: match[2] === undefined ? {} : parseLabels(match[2], line),
      value: parseValue(match[3], line),
    });
  }
  return samples;
}

/**
 * Returns the value of the sample with this name and exactly these labels,
 * or undefined when there is none.
 */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels).sort();
  const found = samples.find((sample) => {
    if (sample.name !== name) return false;
    const actual = Object.entries(sample.labels).sort();
    return JSON.stringify(actual) === JSON.stringify(wanted);
  });
  return found?.value;
}
