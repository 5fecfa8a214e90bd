/**
 * The text of a top-level member's value inside a JSON object's text, exactly as written, or
 * undefined when the object has no such member (the last one wins when a key repeats, as in
 * JSON.parse and jsonb). Lets the writer store an event's `data` from the Kafka message text:
 * no re-serialising, and numbers keep every digit the producer sent.
 * Precondition: `json` is valid JSON (the caller has parsed it).
 */
export function memberText(json: string, key: string): string | undefined {
  let i = skipSpace(json, 0);
  if (json.charCodeAt(i) !== OPEN_OBJECT) return undefined;
  i = skipSpace(json, i + 1);
  let found: string | undefined;
  while (json.charCodeAt(i) === QUOTE) {
    const keyEnd = stringEnd(json, i);
    const raw = json.slice(i + 1, keyEnd - 1);
    const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
    i = skipSpace(json, skipSpace(json, keyEnd) + 1); // past ':'
    const end = valueEnd(json, i);
    if (name === key) found = json.slice(i, end);
    i = skipSpace(json, end);
    if (json.charCodeAt(i) !== COMMA) break;
    i = skipSpace(json, i + 1);
  }
  return found;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

function skipSpace(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Index just past the string starting at `i` (its opening quote). */
function stringEnd(s: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = s.indexOf('"', from);
    let b = q - 1;
    while (s.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1; // an even run of backslashes: the quote is not escaped
    from = q + 1;
  }
}

/** Index just past the value starting at `i`. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return stringEnd(s, i);
  if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
    let depth = 0;
    for (let j = i; ; ) {
      const d = s.charCodeAt(j);
      if (d === QUOTE) {
        j = stringEnd(s, j);
        continue;
      }
      if (d === OPEN_OBJECT || d === OPEN_ARRAY) depth++;
      else if ((d === CLOSE_OBJECT || d === CLOSE_ARRAY) && --depth === 0) return j + 1;
      j++;
    }
  }
  // number, true, false, null
  let j = i + 1;
  for (;;) {
    const d = s.charCodeAt(j);
    if (Number.isNaN(d) || d === COMMA || d === CLOSE_OBJECT || d === CLOSE_ARRAY || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) return j;
    j++;
  }
}
