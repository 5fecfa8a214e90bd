/**
 * Postgres text and jsonb cannot hold U+0000 nor unpaired UTF-16 surrogates (`"\ud800"` is
 * valid JSON but "invalid input syntax for type json" to Postgres). An event carrying either
 * would fail its batch on every attempt, so the gateway refuses it and the processor
 * dead-letters it on decode. Returns the first offending place (a JSON pointer relative to
 * `value`, '' for itself) and what is wrong, or null when every string can be stored.
 */
export function unstorableText(value: unknown, at = ''): { at: string; message: string } | null {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { at, message: 'must not contain the NUL character (\\u0000)' };
    if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) return { at, message: 'must not contain unpaired UTF-16 surrogates (e.g. \\ud800)' };
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const here = `${at}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    const bad = (Array.isArray(value) ? null : unstorableText(k, here)) ?? unstorableText(v, here);
    if (bad) return bad;
  }
  return null;
}
