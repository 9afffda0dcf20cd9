/**
 * Reads the text of one member of a top-level JSON object without parsing its value, so that the
 * value reaches its reader byte for byte (JSON.parse would round an integer above 2^53).
 */

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * The exact source text of `key`'s value in the JSON object `json` (the last one, as JSON.parse
 * keeps the last of repeated keys), or undefined when the object has no such member.
 * `json` must already be known to be valid JSON (it was parsed once): this only finds boundaries.
 */
export function memberText(json: string, key: string): string | undefined {
  let i = skipSpace(json, 0);
  if (json[i] !== '{') return undefined;
  i = skipSpace(json, i + 1);
  let found: string | undefined;
  while (i < json.length && json[i] !== '}') {
    const keyEnd = endOfString(json, i);
    const name = JSON.parse(json.slice(i, keyEnd)) as string;
    i = skipSpace(json, keyEnd);
    i = skipSpace(json, i + 1); // the ':'
    const valueEnd = endOfValue(json, i);
    if (name === key) found = json.slice(i, valueEnd);
    i = skipSpace(json, valueEnd);
    if (json[i] === ',') i = skipSpace(json, i + 1);
  }
  return found;
}

function skipSpace(json: string, from: number): number {
  let i = from;
  while (i < json.length && WHITESPACE.has(json[i] as string)) i++;
  return i;
}

/** Index just past the string starting at `from` (at its opening quote). */
function endOfString(json: string, from: number): number {
  let i = from + 1;
  while (i < json.length) {
    const char = json[i];
    if (char === '\\') i += 2;
    else if (char === '"') return i + 1;
    else i++;
  }
  return i;
}

/** Index just past the value starting at `from`. */
function endOfValue(json: string, from: number): number {
  const first = json[from];
  if (first === '"') return endOfString(json, from);
  if (first === '{' || first === '[') {
    let depth = 0;
    let i = from;
    while (i < json.length) {
      const char = json[i];
      if (char === '"') {
        i = endOfString(json, i);
        continue;
      }
      if (char === '{' || char === '[') depth++;
      else if (char === '}' || char === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return i;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = from;
  while (i < json.length && !WHITESPACE.has(json[i] as string) && json[i] !== ',' && json[i] !== '}') i++;
  return i;
}
