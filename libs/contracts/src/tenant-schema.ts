import Ajv2020 from 'ajv/dist/2020';
import { RE2JS } from 're2js';
import type { FieldError } from './errors';
import { LruCache } from './lru-cache';
import { SchemaWorker, WorkerBudgets, WorkerResult } from './schema-worker';

/**
 * Tenants' JSON Schemas, safe by construction. A schema is tenant input run on shared
 * processors, inside batch transactions that carry other tenants' events, so nothing in it may
 * cost more than a bounded amount of time or reach outside its own document:
 *  - `pattern` / `patternProperties` run on RE2 (re2js, linear time: no catastrophic backtracking;
 *    lookaround and backreferences, the constructs that need backtracking, are refused);
 *  - no `$id`, anchors or `$ref` outside the document: every validator is compiled by its own ajv
 *    instance, so no registry is shared between tenants or schema versions;
 *  - size, nesting depth and the schema's size with every `$ref` expanded are bounded (recursive
 *    refs are refused), which bounds both compile time and validation time per data node;
 *  - `uniqueItems` (quadratic in the array) only under a `maxItems`;
 *  - compile and every validation are timed: a schema over the compile budget is refused, and a
 *    validator that once exceeds the validation budget refuses every later event of its version
 *    at once (the tenant registers a cheaper schema), so one schema costs a process at most one
 *    over-budget validation.
 */
export const SCHEMA_LIMITS = {
  bytes: 64 * 1024,
  depth: 32,
  /** Schema objects counted with each `$ref` replaced by its target. */
  expandedNodes: 2000,
  uniqueItemsMaxItems: 1000,
  errorsReported: 20,
  typesPerTenant: 100,
  compileBudgetMs: 1000,
  validationBudgetMs: 100,
};

export interface RegisteredSchema {
  version: number;
  schema: object;
}

/** RE2 for ajv's `code.regExp`: patterns are ECMA-262 in JSON Schema, matched anywhere (not anchored). */
function re2(pattern: string): { test: (s: string) => boolean } {
  const compiled = RE2JS.compile(pattern);
  return { test: (s: string) => compiled.test(s) };
}
re2.code = 're2';

const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_VALUES = ['additionalProperties', 'items', 'additionalItems', 'contains', 'propertyNames', 'if', 'then', 'else', 'not', 'unevaluatedProperties', 'unevaluatedItems'];
const SCHEMA_ARRAYS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const FORBIDDEN = ['$id', '$anchor', '$dynamicAnchor', '$dynamicRef', '$recursiveAnchor', '$recursiveRef'];
const DRAFT_2020 = /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/;

const esc = (k: string) => k.replace(/~/g, '~0').replace(/\//g, '~1');
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Node {
  schema: Record<string, unknown> | boolean;
  path: string;
}

/** The subschemas of one schema object, with their JSON pointers. */
function children(s: Record<string, unknown>, path: string): Node[] {
  const out: Node[] = [];
  const push = (v: unknown, p: string) => {
    if (isObject(v) || typeof v === 'boolean') out.push({ schema: v, path: p });
  };
  for (const k of SCHEMA_MAPS) if (isObject(s[k])) for (const [name, v] of Object.entries(s[k] as object)) push(v, `${path}/${k}/${esc(name)}`);
  for (const k of SCHEMA_VALUES) push(s[k], `${path}/${k}`);
  for (const k of SCHEMA_ARRAYS) if (Array.isArray(s[k])) (s[k] as unknown[]).forEach((v, i) => push(v, `${path}/${k}/${i}`));
  // Draft-07 `dependencies`: a map of schemas or property lists.
  if (isObject(s.dependencies)) for (const [name, v] of Object.entries(s.dependencies)) push(v, `${path}/dependencies/${esc(name)}`);
  return out;
}

function resolvePointer(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  let at: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at)) at = at[Number(key)];
    else if (isObject(at)) at = at[key];
    else return undefined;
  }
  return at;
}

function jsonDepth(v: unknown, limit: number, depth = 0): boolean {
  if (depth > limit) return false;
  if (Array.isArray(v)) return v.every((x) => jsonDepth(x, limit, depth + 1));
  if (isObject(v)) return Object.values(v).every((x) => jsonDepth(x, limit, depth + 1));
  return true;
}

/**
 * What is wrong with a tenant's schema under the limits above, before any compile: paths are
 * JSON pointers into the schema, prefixed with `at`. Empty when it may be compiled.
 */
export function schemaProblems(schema: unknown, at = ''): FieldError[] {
  if (!isObject(schema)) return [{ path: at || '/', message: 'a JSON Schema must be an object' }];
  const bytes = Buffer.byteLength(JSON.stringify(schema));
  if (bytes > SCHEMA_LIMITS.bytes) return [{ path: at || '/', message: `the schema is ${bytes} bytes; the limit is ${SCHEMA_LIMITS.bytes}` }];
  // Any JSON inside it (enum, const, default) counts towards the nesting limit too.
  if (!jsonDepth(schema, SCHEMA_LIMITS.depth * 2)) return [{ path: at || '/', message: `the schema is nested deeper than ${SCHEMA_LIMITS.depth * 2} levels` }];

  const errors: FieldError[] = [];
  const add = (path: string, message: string) => {
    if (errors.length < SCHEMA_LIMITS.errorsReported) errors.push({ path: at + path, message });
  };
  if (schema.$schema !== undefined && !(typeof schema.$schema === 'string' && DRAFT_2020.test(schema.$schema))) {
    add('/$schema', 'only JSON Schema 2020-12 (https://json-schema.org/draft/2020-12/schema) is supported');
  }

  // Walk every schema position once (depth-first), checking each schema object on its own.
  const stack: (Node & { depth: number })[] = [{ schema, path: '', depth: 0 }];
  const refs: { from: Record<string, unknown>; ref: string; path: string }[] = [];
  while (stack.length) {
    const { schema: s, path, depth } = stack.pop()!;
    if (typeof s === 'boolean') continue;
    if (depth > SCHEMA_LIMITS.depth) {
      add(path, `subschemas are nested deeper than ${SCHEMA_LIMITS.depth} levels`);
      continue;
    }
    for (const k of FORBIDDEN) if (k in s) add(`${path}/${esc(k)}`, `'${k}' is not supported: a tenant's schema is one self-contained document`);
    if ('$ref' in s) {
      const ref = s.$ref;
      if (typeof ref !== 'string' || !(ref === '#' || ref.startsWith('#/'))) add(`${path}/$ref`, "only references inside the schema are supported ('#' or '#/…')");
      else if (resolvePointer(schema, ref) === undefined) add(`${path}/$ref`, `'${ref}' points at nothing in this schema`);
      else refs.push({ from: s, ref, path: `${path}/$ref` });
    }
    if (s.uniqueItems === true && !(typeof s.maxItems === 'number' && s.maxItems <= SCHEMA_LIMITS.uniqueItemsMaxItems)) {
      add(`${path}/uniqueItems`, `uniqueItems needs a maxItems of at most ${SCHEMA_LIMITS.uniqueItemsMaxItems} beside it (its cost grows with the square of the array)`);
    }
    const patterns: [string, unknown][] = [];
    if ('pattern' in s) patterns.push([`${path}/pattern`, s.pattern]);
    if (isObject(s.patternProperties)) for (const p of Object.keys(s.patternProperties)) patterns.push([`${path}/patternProperties/${esc(p)}`, p]);
    for (const [p, v] of patterns) {
      if (typeof v !== 'string') continue; // the meta-schema check names it
      try {
        RE2JS.compile(v);
      } catch (e) {
        add(p, `not a pattern this platform runs (RE2 syntax: no lookaround or backreferences): ${(e as Error).message}`);
      }
    }
    for (const c of children(s, path)) stack.push({ ...c, depth: depth + 1 });
  }
  if (errors.length) return errors;

  // The schema's size with every $ref expanded: bounds the work per data node. Memoised per
  // schema object, so this walk is linear in the document; a cycle is a recursive schema.
  const cost = new Map<object, number>();
  const inProgress = new Set<object>();
  const refOf = new Map(refs.map((r) => [r.from, r]));
  const measure = (s: Record<string, unknown> | boolean, path: string): number => {
    if (typeof s === 'boolean') return 1;
    const known = cost.get(s);
    if (known !== undefined) return known;
    if (inProgress.has(s)) throw new RecursiveRef(path);
    inProgress.add(s);
    let n = 1;
    for (const c of children(s, path)) {
      n += measure(c.schema, c.path);
      if (n > SCHEMA_LIMITS.expandedNodes) break;
    }
    const r = refOf.get(s);
    if (r && n <= SCHEMA_LIMITS.expandedNodes) {
      const target = resolvePointer(schema, r.ref);
      if (isObject(target) || typeof target === 'boolean') n += measure(target, r.path);
    }
    inProgress.delete(s);
    cost.set(s, n);
    return n;
  };
  try {
    const n = measure(schema, '');
    if (n > SCHEMA_LIMITS.expandedNodes) add('', `the schema has more than ${SCHEMA_LIMITS.expandedNodes} subschemas with its $refs expanded`);
  } catch (e) {
    if (!(e instanceof RecursiveRef)) throw e;
    add(e.path, 'recursive $ref is not supported');
  }
  return errors;
}

class RecursiveRef extends Error {
  constructor(readonly path: string) {
    super('recursive $ref');
  }
}

// One instance only checks schemas against the meta-schema: it compiles none, so it registers none.
const metaChecker = new Ajv2020({ strict: false, code: { regExp: re2 } });

/** Why a registered schema cannot judge data (its tenant's events get this as their error). */
export class SchemaUnusableError extends Error {}

interface Pending {
  key: string;
  schema: object;
  data: unknown;
  resolve: (r: WorkerResult) => void;
}

/**
 * Compiles and runs tenants' schemas off the event loop (one worker thread per process, see
 * schema-worker.ts), each item under a time budget. Checks made in the same turn of the event loop
 * go to the worker as one message. A schema version whose compile or validation overran its budget
 * is remembered and refuses every later event at once, so one schema costs a process at most one
 * budget.
 * Invariant: validators are keyed by tenant, type and version, so one tenant's schema never
 * judges another's events.
 */
export class SchemaChecker {
  private readonly worker: SchemaWorker;
  private readonly unusable = new LruCache<string, string>(10000);
  private readonly limitsChecked = new LruCache<string, true>(10000);
  private batch: Pending[] = [];

  constructor(private readonly budgets: WorkerBudgets = { compileMs: SCHEMA_LIMITS.compileBudgetMs * 2, validateMs: SCHEMA_LIMITS.validationBudgetMs }) {
    this.worker = new SchemaWorker(budgets, { maxErrors: SCHEMA_LIMITS.errorsReported, capacity: 1000 });
  }

  /**
   * Checks a schema a tenant wants to register: the limits, the meta-schema, then a compile in the
   * worker within SCHEMA_LIMITS.compileBudgetMs. Field errors name places in the schema (paths
   * prefixed with `at`); empty when acceptable.
   */
  async registrationProblems(schema: unknown, at = ''): Promise<FieldError[]> {
    const problems = schemaProblems(schema, at);
    if (problems.length) return problems;
    if (!metaChecker.validateSchema(schema as object)) {
      return (metaChecker.errors ?? []).slice(0, SCHEMA_LIMITS.errorsReported).map((e) => ({ path: `${at}${e.instancePath}` || '/', message: e.message ?? 'is invalid' }));
    }
    const budget = SCHEMA_LIMITS.compileBudgetMs;
    // A thread of its own: a registration never waits behind, or delays, the events being judged.
    const worker = new SchemaWorker({ compileMs: budget, validateMs: budget }, { maxErrors: 1, capacity: 1 });
    let reply: { error?: string } | undefined;
    try {
      reply = await new Promise((resolve) => void worker.run({ kind: 'compile', schema }, () => resolve(undefined)).then(resolve));
    } finally {
      await worker.close();
    }
    if (reply === undefined) return [{ path: at || '/', message: `compiling the schema took longer than ${budget} ms, the budget` }];
    if (reply.error) return [{ path: at || '/', message: `not a valid JSON Schema: ${reply.error}` }];
    return [];
  }

  /**
   * Field errors of `data` against the tenant's schema for its type (empty when valid or when no
   * schema is registered); paths start at `dataPath`, at most SCHEMA_LIMITS.errorsReported.
   * Rejects with SchemaUnusableError when the schema cannot judge data (limits, compile, budget).
   */
  async check(tenant: string, type: string, schema: RegisteredSchema | undefined, data: unknown, dataPath: string): Promise<FieldError[]> {
    if (!schema) return [];
    const key = `${tenant}\u0000${type}\u0000${schema.version}`;
    const what = `schema version ${schema.version} for '${type}'`;
    if (!this.limitsChecked.get(key)) {
      // Schemas stored before these limits (or written around the API) are held to them here.
      const problems = schemaProblems(schema.schema);
      if (problems.length) this.unusable.set(key, `breaks the platform's limits: ${problems.map((p) => `${p.path || '/'} ${p.message}`).join('; ')}`);
      this.limitsChecked.set(key, true);
    }
    const known = this.unusable.get(key);
    if (known) throw new SchemaUnusableError(`${what} ${known}`);
    const r = await new Promise<WorkerResult>((resolve) => {
      if (this.batch.length === 0) setImmediate(() => this.flush());
      this.batch.push({ key, schema: schema.schema, data, resolve });
    });
    if (r === null) return [];
    if ('unusable' in r) {
      this.unusable.set(key, r.unusable);
      throw new SchemaUnusableError(`${what} ${r.unusable}`);
    }
    return r.errors.map((e) => ({ path: `${dataPath}${e.path}`, message: e.message }));
  }

  private flush(items: Pending[] = this.batch): void {
    if (items === this.batch) this.batch = [];
    if (items.length === 0) return;
    const schemas: Record<string, object> = {};
    for (const it of items) schemas[it.key] = it.schema;
    void this.worker
      .run({ kind: 'validate', schemas, items: items.map((it) => ({ key: it.key, data: it.data })) }, (index, phase, why) => {
        // The thread was ended on `index`: that item's schema is unusable; the others go again.
        const culprit = items[index];
        if (culprit) culprit.resolve({ unusable: why });
        const rest = items.filter((_, i) => i !== index);
        if (rest.length === items.length) for (const it of rest) it.resolve({ unusable: why });
        else this.flush(rest);
      })
      .then((reply: { results: WorkerResult[] }) => reply.results.forEach((r, i) => items[i].resolve(r)));
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

/** The process's checker: its worker thread starts on first use. */
export const schemaChecker = new SchemaChecker();
