import { Worker } from 'worker_threads';

/**
 * The body of the schema worker thread. Its source is handed to the worker with
 * Function.prototype.toString, so it refers to nothing outside itself: the modules it needs come
 * by resolved path in workerData.
 * Protocol: {id, kind: 'compile', schema} → {id, error?}; {id, kind: 'validate', schemas: {key:
 * schema}, items: [{key, data}]} → {id, results: [null | {errors} | {unusable}]}. Before each item
 * it stamps `progress` = [item index + 1, phase (1 compiling, 2 validating)], so the parent's
 * watchdog can tell which item overran its budget and end the thread.
 */
function schemaWorkerMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { parentPort, workerData } = require('worker_threads');
  const Ajv2020 = require(workerData.ajv).default;
  const { RE2JS } = require(workerData.re2js);
  const progress = new Int32Array(workerData.progress);
  const maxErrors: number = workerData.maxErrors;
  const capacity: number = workerData.capacity;

  // RE2 for ajv's code.regExp: JSON Schema patterns match anywhere (not anchored), in linear time.
  const re2 = (pattern: string) => {
    const compiled = RE2JS.compile(pattern);
    return { test: (s: string) => compiled.test(s) };
  };
  re2.code = 're2';
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  // JSON with sorted keys: equal for values JSON Schema calls equal.
  const canonical = (v: unknown): string =>
    Array.isArray(v) ? `[${v.map(canonical).join(',')}]` : isObject(v) ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}` : JSON.stringify(v);
  // ajv's own uniqueItems compares every pair, and under allErrors runs even where maxItems failed:
  // this one skips arrays over their maxItems (maxItems reports them) and is linear otherwise.
  const uniqueItems: any = (wanted: unknown, data: unknown, parent?: { maxItems?: unknown }) => {
    uniqueItems.errors = null;
    if (wanted !== true || !Array.isArray(data) || !(typeof parent?.maxItems === 'number' && data.length <= parent.maxItems)) return true;
    const seen = new Map<string, number>();
    for (let i = 0; i < data.length; i++) {
      const k = canonical(data[i]);
      const j = seen.get(k);
      if (j !== undefined) {
        uniqueItems.errors = [{ keyword: 'uniqueItems', message: `must NOT have duplicate items (items ${j} and ${i} are identical)`, params: { i: j, j: i } }];
        return false;
      }
      seen.set(k, i);
    }
    return true;
  };
  // Each schema by its own ajv instance: no registry is shared between tenants or versions.
  const compile = (schema: object) => {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateSchema: false, addUsedSchema: false, code: { regExp: re2 } });
    ajv.removeKeyword('uniqueItems');
    ajv.addKeyword({ keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', errors: true, validate: uniqueItems });
    return ajv.compile(schema);
  };
  const validators = new Map<string, any>(); // least recently used first
  const validatorFor = (key: string, schema: object | undefined) => {
    let v = validators.get(key);
    if (v) {
      validators.delete(key);
    } else {
      if (!schema) throw new Error('schema not sent');
      Atomics.store(progress, 1, 1);
      v = compile(schema);
      if (validators.size >= capacity) validators.delete(validators.keys().next().value as string);
    }
    validators.set(key, v);
    return v;
  };

  parentPort.on('message', (m: any) => {
    if (m.kind === 'compile') {
      Atomics.store(progress, 0, 1);
      Atomics.store(progress, 1, 1);
      let error: string | undefined;
      try {
        compile(m.schema);
      } catch (e) {
        error = (e as Error).message;
      }
      Atomics.store(progress, 0, 0);
      parentPort.postMessage({ id: m.id, error });
      return;
    }
    const results = m.items.map((it: { key: string; data: unknown }, i: number) => {
      Atomics.store(progress, 0, i + 1);
      let v;
      try {
        v = validatorFor(it.key, m.schemas[it.key]);
      } catch (e) {
        return { unusable: `does not compile: ${(e as Error).message}` };
      }
      Atomics.store(progress, 1, 2);
      try {
        if (v(it.data)) return null;
        return { errors: (v.errors ?? []).slice(0, maxErrors).map((e: any) => ({ path: e.instancePath, message: e.keyword === 'required' ? `must have property '${e.params.missingProperty}'` : e.message ?? 'is invalid' })) };
      } catch (e) {
        return { unusable: `failed while validating: ${(e as Error).message}` };
      }
    });
    Atomics.store(progress, 0, 0);
    parentPort.postMessage({ id: m.id, results });
  });
}

export type WorkerResult = null | { errors: { path: string; message: string }[] } | { unusable: string };

export interface WorkerBudgets {
  compileMs: number;
  validateMs: number;
}

/** A job posted to the worker; `fail` is told which item (index) overran or crashed it. */
interface Job {
  message: Record<string, unknown>;
  done: (reply: any) => void;
  /** The worker ended (budget or crash) during `item` (-1 when unknown), in `phase`. */
  overran: (item: number, phase: 'compile' | 'validate', why: string) => void;
}

/**
 * One worker thread that compiles and runs tenants' schemas off the event loop, under a time
 * budget: a watchdog ends the thread when one item has run longer than its budget (the thread
 * cannot be interrupted otherwise) and reports which item it was; the next job gets a new thread.
 * Jobs run one at a time, in order.
 */
export class SchemaWorker {
  private worker?: Worker;
  private readonly progress = new Int32Array(new SharedArrayBuffer(8));
  private readonly queue: Job[] = [];
  private current?: Job & { id: number };
  private nextId = 1;
  private watchdog?: NodeJS.Timeout;

  constructor(private readonly budgets: WorkerBudgets, private readonly opts: { maxErrors: number; capacity: number }) {}

  run(message: Record<string, unknown>, overran: Job['overran']): Promise<any> {
    return new Promise((resolve) => {
      this.queue.push({ message, done: resolve, overran });
      this.pump();
    });
  }

  private spawn(): Worker {
    const w = new Worker(`(${schemaWorkerMain.toString()})()`, {
      eval: true,
      workerData: { ajv: require.resolve('ajv/dist/2020'), re2js: require.resolve('re2js'), progress: this.progress.buffer, maxErrors: this.opts.maxErrors, capacity: this.opts.capacity },
      // A schema that makes ajv allocate without bound ends this thread, not the process.
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    w.on('message', (reply: { id: number }) => {
      const job = this.current;
      if (!job || reply.id !== job.id) return;
      this.finish();
      job.done(reply);
      this.pump();
    });
    w.on('error', (e) => this.kill(`the schema worker failed: ${e.message}`));
    w.on('exit', () => {
      if (this.worker === w) this.kill('the schema worker exited');
    });
    w.unref();
    return w;
  }

  private pump(): void {
    if (this.current || this.queue.length === 0) return;
    const job = this.queue.shift()!;
    const id = this.nextId++;
    this.current = { ...job, id };
    this.worker ??= this.spawn();
    Atomics.store(this.progress, 0, 0);
    Atomics.store(this.progress, 1, 2);
    try {
      this.worker.postMessage({ ...job.message, id });
    } catch (e) {
      // Data that cannot be cloned to the thread: the job fails as a whole, the queue goes on.
      this.current = undefined;
      job.overran(-1, 'validate', `the data could not be handed to the schema worker: ${(e as Error).message}`);
      this.pump();
      return;
    }
    let seen = -1;
    let since = performance.now();
    this.watchdog = setInterval(() => {
      const item = Atomics.load(this.progress, 0);
      const step = item * 4 + Atomics.load(this.progress, 1);
      if (step !== seen) {
        seen = step;
        since = performance.now();
        return;
      }
      const phase = Atomics.load(this.progress, 1) === 1 ? 'compile' : 'validate';
      const budget = phase === 'compile' ? this.budgets.compileMs : this.budgets.validateMs;
      const ran = performance.now() - since;
      if (item > 0 && ran > budget) this.kill(`${phase === 'compile' ? 'compiling' : 'validating'} took over ${budget} ms, the budget`);
    }, Math.max(5, Math.min(this.budgets.validateMs, this.budgets.compileMs) / 4));
  }

  private finish(): void {
    clearInterval(this.watchdog);
    this.current = undefined;
  }

  /** Ends the thread; the job in progress learns which item it was on. */
  private kill(why: string): void {
    const job = this.current;
    const item = Atomics.load(this.progress, 0) - 1;
    const phase = Atomics.load(this.progress, 1) === 1 ? 'compile' : 'validate';
    const w = this.worker;
    this.worker = undefined;
    void w?.terminate();
    if (!job) return;
    this.finish();
    job.overran(item, phase, why);
    this.pump();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}
