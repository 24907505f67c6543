/**
 * JSON as ASP.NET reads `appsettings.json`: `//` and `/* *\/` comments and
 * trailing commas are allowed.
 *
 * @module
 */

/**
 * Parses JSON that may contain comments and trailing commas.
 *
 * @throws {SyntaxError} when the text is not JSON once those are removed
 */
export function parseJsonWithComments(text: string): unknown {
  let output = "";
  let index = 0;
  while (index < text.length) {
    const char = text[index];
    if (char === '"') {
      const end = findStringEnd(text, index);
      output += text.slice(index, end);
      index = end;
    } else if (char === "/" && text[index + 1] === "/") {
      const end = text.indexOf("\n", index);
      index = end === -1 ? text.length : end;
    } else if (char === "/" && text[index + 1] === "*") {
      const end = text.indexOf("*/", index + 2);
      if (end === -1) throw new SyntaxError("Unterminated /* comment");
      index = end + 2;
    } else {
      if (char === "}" || char === "]") {
        // Outside strings, so a comma before the closing bracket is trailing.
        output = output.replace(/,\s*$/, "");
      }
      output += char;
      index++;
    }
  }
  return JSON.parse(output);
}

/** Returns the index just past the string literal that starts at `start`. */
function findStringEnd(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length) {
    if (text[index] === "\\") {
      index += 2;
    } else if (text[index] === '"') {
      return index + 1;
    } else {
      index++;
    }
  }
  return text.length;
}
