import { checkData, registrationProblems, SCHEMA_LIMITS, SchemaUnusableError } from './tenant-schema';

let version = 0;
/** A fresh version each time: validators are cached per (tenant, type, version). */
const registered = (schema: object) => ({ schema, version: ++version });
const paths = (errors: { path: string }[]) => errors.map((e) => e.path);

describe('tenant schemas: what may be registered', () => {
  it('accepts an ordinary schema with local $refs and a pattern', () => {
    expect(
      registrationProblems({
        type: 'object',
        required: ['sku'],
        properties: { sku: { $ref: '#/$defs/sku' }, tags: { type: 'array', items: { type: 'string' }, uniqueItems: true, maxItems: 50 } },
        $defs: { sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4,8}$' } },
      }),
    ).toEqual([]);
  });

  it('refuses $id, anchors and references outside the document, naming where', () => {
    expect(paths(registrationProblems({ $id: 'https://a.example/base.json', type: 'object' }))).toEqual(['/$id']);
    expect(paths(registrationProblems({ properties: { a: { $ref: 'https://a.example/base.json' } } }))).toEqual(['/properties/a/$ref']);
    expect(paths(registrationProblems({ $defs: { x: { $anchor: 'x' } }, $ref: '#x' }))).toEqual(expect.arrayContaining(['/$defs/x/$anchor', '/$ref']));
    expect(paths(registrationProblems({ $defs: { d: { $dynamicAnchor: 'n' } } }))).toEqual(['/$defs/d/$dynamicAnchor']);
    expect(paths(registrationProblems({ $ref: '#/$defs/missing' }))).toEqual(['/$ref']);
  });

  it('does not take keys inside enum or const values for keywords', () => {
    expect(registrationProblems({ enum: [{ $id: 'x', $ref: 'http://y' }], const: { $anchor: 'z' } })).toEqual([]);
  });

  it('refuses patterns that need backtracking (lookaround, backreferences)', () => {
    expect(paths(registrationProblems({ type: 'string', pattern: '^(?=a)a+$' }))).toEqual(['/pattern']);
    expect(paths(registrationProblems({ patternProperties: { '^(a)\\1$': {} } }))).toEqual(['/patternProperties/^(a)\\1$']);
  });

  it('refuses uniqueItems without a bounded maxItems', () => {
    expect(paths(registrationProblems({ type: 'array', uniqueItems: true }))).toEqual(['/uniqueItems']);
    expect(paths(registrationProblems({ type: 'array', uniqueItems: true, maxItems: SCHEMA_LIMITS.uniqueItemsMaxItems + 1 }))).toEqual(['/uniqueItems']);
  });

  it('refuses recursive schemas and ones whose $refs expand past the limit', () => {
    expect(paths(registrationProblems({ $defs: { node: { properties: { next: { $ref: '#/$defs/node' } } } }, $ref: '#/$defs/node' }))).toEqual(['/$defs/node/properties/next/$ref']);
    // Each level references the next twice: 2^20 subschemas from a ~1 KB document.
    const $defs: Record<string, object> = { l20: { type: 'string' } };
    for (let i = 0; i < 20; i++) $defs[`l${i}`] = { anyOf: [{ $ref: `#/$defs/l${i + 1}` }, { $ref: `#/$defs/l${i + 1}` }] };
    expect(registrationProblems({ $defs, $ref: '#/$defs/l0' })).toEqual([{ path: '', message: expect.stringContaining(`more than ${SCHEMA_LIMITS.expandedNodes} subschemas`) }]);
  });

  it('refuses a schema over the size limit at once, and one nested too deep', () => {
    const big = { type: 'object', properties: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`p${i}`, { type: 'integer' }])) };
    const started = performance.now();
    expect(registrationProblems(big)).toEqual([{ path: '/', message: expect.stringContaining(`the limit is ${SCHEMA_LIMITS.bytes}`) }]);
    expect(performance.now() - started).toBeLessThan(SCHEMA_LIMITS.compileBudgetMs);
    let deep: object = { type: 'string' };
    for (let i = 0; i < SCHEMA_LIMITS.depth + 2; i++) deep = { properties: { a: deep } };
    expect(registrationProblems(deep)[0].message).toMatch(/nested deeper/);
  });

  it('names meta-schema violations', () => {
    expect(registrationProblems({ type: 'strnig' })).not.toEqual([]);
    expect(registrationProblems({ $schema: 'http://json-schema.org/draft-04/schema#' })).toEqual([{ path: '/$schema', message: expect.stringContaining('2020-12') }]);
  });
});

describe('tenant schemas: judging data', () => {
  it('runs patterns in linear time: ^(a+)+$ against 10,000 a and ! is an ordinary error', () => {
    const s = registered({ type: 'string', pattern: '^(a+)+$' });
    // A backtracking engine needs ~2.5 s for 28 characters and doubles with each one more.
    expect(paths(checkData('t1', 'x', s, `${'a'.repeat(10000)}!`, '/data'))).toEqual(['/data']);
    expect(checkData('t1', 'x', s, 'aaaa', '/data')).toEqual([]);
  });

  it('keeps each tenant its own validator for the same type and version', () => {
    const a = { schema: { type: 'object', required: ['a'] }, version: 1 };
    const b = { schema: { type: 'object', required: ['b'] }, version: 1 };
    expect(checkData('tenant-a', 'same', a, { a: 1 }, '/data')).toEqual([]);
    expect(checkData('tenant-b', 'same', b, { a: 1 }, '/data')).toEqual([{ path: '/data', message: "must have property 'b'" }]);
    expect(checkData('tenant-a', 'same', a, { b: 1 }, '/data')).toEqual([{ path: '/data', message: "must have property 'a'" }]);
  });

  it('checks uniqueItems in linear time and skips arrays that already break maxItems', () => {
    const s = registered({ type: 'array', uniqueItems: true, maxItems: 1000 });
    const long = Array.from({ length: 20000 }, (_, i) => ({ n: i }));
    const errors = checkData('t1', 'u', s, long, '/data');
    expect(errors).toEqual([{ path: '/data', message: 'must NOT have more than 1000 items' }]);
    expect(paths(checkData('t1', 'u', s, [{ a: 1, b: 2 }, 3, { b: 2, a: 1 }], '/data'))).toEqual(['/data']);
    expect(checkData('t1', 'u', s, Array.from({ length: 1000 }, (_, i) => ({ n: i })), '/data')).toEqual([]);
  });

  it('reports at most 20 errors', () => {
    const s = registered({ type: 'array', items: { type: 'string' } });
    expect(checkData('t1', 'many', s, Array.from({ length: 500 }, () => 1), '/data')).toHaveLength(SCHEMA_LIMITS.errorsReported);
  });

  it('refuses to judge with a stored schema that breaks the limits (registered before them)', () => {
    const s = registered({ $id: 'https://a.example/base.json', type: 'object' });
    expect(() => checkData('t1', 'old', s, {}, '/data')).toThrow(SchemaUnusableError);
    const remote = registered({ $ref: 'https://a.example/base.json' });
    expect(() => checkData('t2', 'old', remote, {}, '/data')).toThrow(/only references inside the schema/);
  });
});
