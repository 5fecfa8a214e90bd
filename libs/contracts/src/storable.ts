/**
 * Postgres text and jsonb cannot hold U+0000 nor unpaired UTF-16 surrogates (`"\ud800"` is
 * valid JSON but "invalid input syntax for type json" to Postgres). An event carrying either
 * would fail its batch on every attempt, so the gateway refuses it and the processor
 * dead-letters it on decode. Returns the first offending place (a JSON pointer relative to
 * `value`, '' for itself) and what is wrong, or null when every string can be stored.
 */
export function unstorableText(value: unknown, at = ''): { at: string; message: string } | null {
  const bad = firstUnstorable(value);
  if (!bad) return null;
  // The path is built only for the error (keys collected innermost first): the walk allocates nothing.
  const pointer = bad.keys.reverse().map((k) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
  return { at: at + pointer, message: bad.message };
}

function firstUnstorable(value: unknown): { keys: string[]; message: string } | null {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { keys: [], message: 'must not contain the NUL character (\\u0000)' };
    if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) return { keys: [], message: 'must not contain unpaired UTF-16 surrogates (e.g. \\ud800)' };
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = firstUnstorable(value[i]);
      if (bad) {
        bad.keys.push(String(i));
        return bad;
      }
    }
    return null;
  }
  for (const k of Object.keys(value)) {
    const bad = firstUnstorable(k) ?? firstUnstorable((value as Record<string, unknown>)[k]);
    if (bad) {
      bad.keys.push(k);
      return bad;
    }
  }
  return null;
}

/**
 * Whether JSON text may decode to text Postgres cannot store. Neither U+0000 nor an unpaired
 * surrogate can appear in JSON text unescaped (control characters must be escaped, and text
 * decoded from UTF-8 holds no lone surrogates), so text without any `\u` escape is storable:
 * the common case skips the walk over the parsed value.
 */
export const mayHoldUnstorable = (jsonText: string) => jsonText.includes('\\u');
