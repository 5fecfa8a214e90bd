import { SchemaChecker, SCHEMA_LIMITS, SchemaUnusableError } from './tenant-schema';

const checker = new SchemaChecker();
afterAll(() => checker.close());
const registrationProblems = (schema: unknown) => checker.registrationProblems(schema);
const checkData = (tenant: string, type: string, schema: { schema: object; version: number }, data: unknown, at: string) => checker.check(tenant, type, schema, data, at);

let version = 0;
/** A fresh version each time: validators are cached per (tenant, type, version). */
const registered = (schema: object) => ({ schema, version: ++version });
const paths = (errors: { path: string }[]) => errors.map((e) => e.path);

describe('tenant schemas: what may be registered', () => {
  it('accepts an ordinary schema with local $refs and a pattern', async () => {
    expect(
      await registrationProblems({
        type: 'object',
        required: ['sku'],
        properties: { sku: { $ref: '#/$defs/sku' }, tags: { type: 'array', items: { type: 'string' }, uniqueItems: true, maxItems: 50 } },
        $defs: { sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4,8}$' } },
      }),
    ).toEqual([]);
  });

  it('refuses $id, anchors and references outside the document, naming where', async () => {
    expect(paths(await registrationProblems({ $id: 'https://a.example/base.json', type: 'object' }))).toEqual(['/$id']);
    expect(paths(await registrationProblems({ properties: { a: { $ref: 'https://a.example/base.json' } } }))).toEqual(['/properties/a/$ref']);
    expect(paths(await registrationProblems({ $defs: { x: { $anchor: 'x' } }, $ref: '#x' }))).toEqual(expect.arrayContaining(['/$defs/x/$anchor', '/$ref']));
    expect(paths(await registrationProblems({ $defs: { d: { $dynamicAnchor: 'n' } } }))).toEqual(['/$defs/d/$dynamicAnchor']);
    expect(paths(await registrationProblems({ $ref: '#/$defs/missing' }))).toEqual(['/$ref']);
  });

  it('does not take keys inside enum or const values for keywords', async () => {
    expect(await registrationProblems({ enum: [{ $id: 'x', $ref: 'http://y' }], const: { $anchor: 'z' } })).toEqual([]);
  });

  it('refuses patterns that need backtracking (lookaround, backreferences)', async () => {
    expect(paths(await registrationProblems({ type: 'string', pattern: '^(?=a)a+$' }))).toEqual(['/pattern']);
    expect(paths(await registrationProblems({ patternProperties: { '^(a)\\1$': {} } }))).toEqual(['/patternProperties/^(a)\\1$']);
  });

  it('refuses uniqueItems without a bounded maxItems', async () => {
    expect(paths(await registrationProblems({ type: 'array', uniqueItems: true }))).toEqual(['/uniqueItems']);
    expect(paths(await registrationProblems({ type: 'array', uniqueItems: true, maxItems: SCHEMA_LIMITS.uniqueItemsMaxItems + 1 }))).toEqual(['/uniqueItems']);
  });

  it('refuses recursive schemas and ones whose $refs expand past the limit', async () => {
    expect(paths(await registrationProblems({ $defs: { node: { properties: { next: { $ref: '#/$defs/node' } } } }, $ref: '#/$defs/node' }))).toEqual(['/$defs/node/properties/next/$ref']);
    // Each level references the next twice: 2^20 subschemas from a ~1 KB document.
    const $defs: Record<string, object> = { l20: { type: 'string' } };
    for (let i = 0; i < 20; i++) $defs[`l${i}`] = { anyOf: [{ $ref: `#/$defs/l${i + 1}` }, { $ref: `#/$defs/l${i + 1}` }] };
    expect(await registrationProblems({ $defs, $ref: '#/$defs/l0' })).toEqual([{ path: '', message: expect.stringContaining(`more than ${SCHEMA_LIMITS.expandedNodes} subschemas`) }]);
  });

  it('refuses a schema over the size limit at once, and one nested too deep', async () => {
    const big = { type: 'object', properties: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`p${i}`, { type: 'integer' }])) };
    const started = performance.now();
    expect(await registrationProblems(big)).toEqual([{ path: '/', message: expect.stringContaining(`the limit is ${SCHEMA_LIMITS.bytes}`) }]);
    expect(performance.now() - started).toBeLessThan(SCHEMA_LIMITS.compileBudgetMs);
    let deep: object = { type: 'string' };
    for (let i = 0; i < SCHEMA_LIMITS.depth + 2; i++) deep = { properties: { a: deep } };
    expect((await registrationProblems(deep))[0].message).toMatch(/nested deeper/);
  });

  it('names meta-schema violations', async () => {
    expect(await registrationProblems({ type: 'strnig' })).not.toEqual([]);
    expect(await registrationProblems({ $schema: 'http://json-schema.org/draft-04/schema#' })).toEqual([{ path: '/$schema', message: expect.stringContaining('2020-12') }]);
  });
});

describe('tenant schemas: judging data', () => {
  it('runs patterns in linear time: ^(a+)+$ against 10,000 a and ! is an ordinary error', async () => {
    const s = registered({ type: 'string', pattern: '^(a+)+$' });
    // A backtracking engine needs ~2.5 s for 28 characters and doubles with each one more.
    expect(paths(await checkData('t1', 'x', s, `${'a'.repeat(10000)}!`, '/data'))).toEqual(['/data']);
    expect(await checkData('t1', 'x', s, 'aaaa', '/data')).toEqual([]);
  });

  it('keeps each tenant its own validator for the same type and version', async () => {
    const a = { schema: { type: 'object', required: ['a'] }, version: 1 };
    const b = { schema: { type: 'object', required: ['b'] }, version: 1 };
    expect(await checkData('tenant-a', 'same', a, { a: 1 }, '/data')).toEqual([]);
    expect(await checkData('tenant-b', 'same', b, { a: 1 }, '/data')).toEqual([{ path: '/data', message: "must have property 'b'" }]);
    expect(await checkData('tenant-a', 'same', a, { b: 1 }, '/data')).toEqual([{ path: '/data', message: "must have property 'a'" }]);
  });

  it('checks uniqueItems in linear time and skips arrays that already break maxItems', async () => {
    const s = registered({ type: 'array', uniqueItems: true, maxItems: 1000 });
    const long = Array.from({ length: 20000 }, (_, i) => ({ n: i }));
    const errors = await checkData('t1', 'u', s, long, '/data');
    expect(errors).toEqual([{ path: '/data', message: 'must NOT have more than 1000 items' }]);
    expect(paths(await checkData('t1', 'u', s, [{ a: 1, b: 2 }, 3, { b: 2, a: 1 }], '/data'))).toEqual(['/data']);
    expect(await checkData('t1', 'u', s, Array.from({ length: 1000 }, (_, i) => ({ n: i })), '/data')).toEqual([]);
  });

  it('reports at most 20 errors', async () => {
    const s = registered({ type: 'array', items: { type: 'string' } });
    expect(await checkData('t1', 'many', s, Array.from({ length: 500 }, () => 1), '/data')).toHaveLength(SCHEMA_LIMITS.errorsReported);
  });

  it('refuses to judge with a stored schema that breaks the limits (registered before them)', async () => {
    const s = registered({ $id: 'https://a.example/base.json', type: 'object' });
    await expect(checkData('t1', 'old', s, {}, '/data')).rejects.toThrow(SchemaUnusableError);
    const remote = registered({ $ref: 'https://a.example/base.json' });
    await expect(checkData('t2', 'old', remote, {}, '/data')).rejects.toThrow(/only references inside the schema/);
  });
});

describe('tenant schemas: the time budget', () => {
  // Within every static limit, yet quadratic: 6,000 enum objects against 6,000 items (~1 s).
  const slow = { type: 'array', items: { enum: Array.from({ length: 6000 }, (_, i) => ({ a: i })) } };
  const slowData = Array.from({ length: 6000 }, () => ({ a: -1 }));

  it('ends a validation over budget, refuses that schema version from then on, and answers the others in the same batch', async () => {
    const tight = new SchemaChecker({ compileMs: 2000, validateMs: 50 });
    try {
      expect(await tight.registrationProblems(slow)).toEqual([]);
      const ok = { schema: { type: 'object', required: ['n'] }, version: 1 };
      const started = performance.now();
      const [a, b, c] = await Promise.allSettled([
        tight.check('quiet', 'order', ok, { n: 1 }, '/data'),
        tight.check('hostile', 'list', { schema: slow, version: 1 }, slowData, '/data'),
        tight.check('quiet', 'order', ok, {}, '/data'),
      ]);
      const took = performance.now() - started;
      expect(a).toEqual({ status: 'fulfilled', value: [] });
      expect(b).toEqual({ status: 'rejected', reason: expect.any(SchemaUnusableError) });
      expect((b as PromiseRejectedResult).reason.message).toMatch(/validating took over 50 ms/);
      expect(c).toEqual({ status: 'fulfilled', value: [{ path: '/data', message: "must have property 'n'" }] });
      // Far less than the ~1 s the validation would take: the thread was ended, not waited for.
      expect(took).toBeLessThan(800);
      // Refused at once from now on, without running it again.
      const again = performance.now();
      await expect(tight.check('hostile', 'list', { schema: slow, version: 1 }, slowData, '/data')).rejects.toThrow(/validating took over 50 ms/);
      expect(performance.now() - again).toBeLessThan(20);
      // The next version is judged afresh, and the quiet tenant is served by a new thread.
      expect(await tight.check('hostile', 'list', { schema: { type: 'array' }, version: 2 }, slowData, '/data')).toEqual([]);
      expect(await tight.check('quiet', 'order', ok, { n: 2 }, '/data')).toEqual([]);
    } finally {
      await tight.close();
    }
  });
});

describe('tenant schemas: data the worker cannot take', () => {
  it('refuses the event with a reason instead of hanging, and goes on with the next', async () => {
    const s = { schema: { type: 'object' }, version: 1 };
    await expect(checker.check('t1', 'fn', s, { f: () => 1 }, '/data')).rejects.toThrow(/could not be handed to the schema worker/);
    expect(await checker.check('t1', 'fn2', s, { n: 1 }, '/data')).toEqual([]);
  });
});
