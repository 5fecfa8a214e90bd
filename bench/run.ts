import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Platform, ROOT, waitFor } from '../test/harness/platform';

/**
 * `npm run bench [-- --json] [--scenario NAME] [--runs N] [--events N]`
 * Each scenario measures Tributary and a reference in the same run on the same broker/database,
 * and reports both with their ratio; every figure is the median of --runs runs (default 3).
 */
interface Figure { name: string; unit: string; ours: number; reference: number; referenceName: string; ratio: number; runs: { ours: number[]; reference: number[] } }

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const RUNS = Number(option('runs', '3'));
const EVENTS = Number(option('events', '50000'));
const LIB = path.join(ROOT, '.cache/kafka/lib/*');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

// ~1 KB JSON events, the size the ingest-batch scenario names. partitionkey = subject (Kafka key
// tenant:subject, order still per stream) spreads the load over every partition, as Kafka's tools
// do; with the default key (tenant) six tenants hash onto three of six partitions.
const event = (i: number) => ({ id: `b-${i}`, type: 'bench.event', subject: `s-${i % 1000}`, partitionkey: `s-${i % 1000}`, data: { seq: i, payload: 'x'.repeat(900) } });

async function postAll(p: Platform, key: string, n: number, batch: number, concurrency: number): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const from = next;
        next += batch;
        if (from >= n) return;
        const body = Array.from({ length: Math.min(batch, n - from) }, (_, j) => event(from + j));
        const r = await p.request('POST', '/v1/events', { key, body });
        if (r.status !== 202) throw new Error(`ingest answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function producerPerformance(topic: string, n: number): number {
  execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', process.env.KAFKA_BROKERS!, '--create', '--topic', topic, '--partitions', '6'], { stdio: 'ignore' });
  // The gateway's producer settings: acks=all, idempotent, linger 5 ms, lz4.
  const out = execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.ProducerPerformance', '--topic', topic, '--num-records', String(n), '--record-size', '1024', '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${process.env.KAFKA_BROKERS}`, 'acks=all', 'enable.idempotence=true', 'linger.ms=5', 'compression.type=lz4'], { encoding: 'utf8' });
  const m = /records sent, ([\d.]+) records\/sec/.exec(out.trim().split('\n').pop() ?? '');
  if (!m) throw new Error(`unexpected ProducerPerformance output: ${out.slice(-300)}`);
  return Number(m[1]);
}

/**
 * TRIBUTARY_CPU_PROF_DIR (bench only): the processor child runs with --cpu-prof and writes its
 * .cpuprofile there when it exits (summarise with dist/bench/profile-summary.js).
 */
const profileArgs = () => (process.env.TRIBUTARY_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.TRIBUTARY_CPU_PROF_DIR)}`] : []);

async function ingestBatch(run: number): Promise<{ ours: number; reference: number }> {
  const p = new Platform(`bench-ingest-${run}`, 6);
  await p.start({ processors: 0 });
  try {
    const key = await p.tenant('bench');
    await postAll(p, key, 2000, 100, 8); // warm-up: JIT, connections
    const seconds = await postAll(p, key, EVENTS, 100, 8);
    const ours = EVENTS / seconds;
    const reference = producerPerformance(`${p.topic}.ref`, EVENTS);
    return { ours, reference };
  } finally {
    await p.stop();
  }
}

async function processScenario(run: number): Promise<{ ours: number; reference: number }> {
  const p = new Platform(`bench-process-${run}`, 6);
  await p.start({ processors: 0 });
  try {
    const tenants = ['t1', 't2', 't3', 't4', 't5', 't6'];
    const keys = await Promise.all(tenants.map((t) => p.tenant(t)));
    // Pre-fill the topic (not timed), spread over tenants so every partition has work.
    const perTenant = Math.floor(EVENTS / tenants.length);
    const total = perTenant * tenants.length;
    await Promise.all(keys.map((k) => postAll(p, k, perTenant, 500, 2)));
    await p.startProcessor(undefined, profileArgs());
    // Progress = the checkpoints the processor commits with each batch (offsets start at 0, so
    // their sum is the events applied); far cheaper for Postgres than count(*) on events every 20 ms.
    const count = async () => Number((await p.db.query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM consumer_checkpoints WHERE group_id = $1`, [p.group])).rows[0].n);
    const first = await waitFor('first rows', async () => {
      const n = await count();
      return n > 0 ? { n, at: process.hrtime.bigint() } : undefined;
    }, 60000, 20);
    const end = await waitFor('all rows', async () => ((await count()) >= total ? process.hrtime.bigint() : undefined), 600000, 20);
    const ours = (total - first.n) / (Number(end - first.at) / 1e9);

    // Reference: the same rows COPYed straight into a table with the same columns and indexes.
    const csv = path.join(os.tmpdir(), `tributary-bench-${p.schema}.csv`);
    const url = process.env.DATABASE_URL!;
    execFileSync('psql', [url, '-q', '-c', `\\copy (SELECT * FROM "${p.schema}".events) TO '${csv}' CSV`]);
    execFileSync('psql', [url, '-q', '-c', `CREATE TABLE "${p.schema}".copy_ref (LIKE "${p.schema}".events INCLUDING DEFAULTS)`]);
    for (const idx of ['(tenant_id, event_id)', '(tenant_id, subject, sequence)', '(tenant_id, time, event_id)']) {
      execFileSync('psql', [url, '-q', '-c', `CREATE INDEX ON "${p.schema}".copy_ref ${idx}`]);
    }
    const t0 = process.hrtime.bigint();
    execFileSync('psql', [url, '-q', '-c', `\\copy "${p.schema}".copy_ref FROM '${csv}' CSV`]);
    const reference = total / (Number(process.hrtime.bigint() - t0) / 1e9);
    fs.rmSync(csv, { force: true });
    return { ours, reference };
  } finally {
    await p.stop();
  }
}

const SCENARIOS: Record<string, { unit: string; referenceName: string; run: (i: number) => Promise<{ ours: number; reference: number }> }> = {
  'ingest-batch': { unit: 'events/s', referenceName: 'kafka ProducerPerformance (acks=all, idempotent, lz4, 1 KiB)', run: ingestBatch },
  process: { unit: 'events/s', referenceName: 'COPY of the same rows into an indexed table', run: processScenario },
};

async function main() {
  const only = option('scenario', '');
  const names = only ? [only] : Object.keys(SCENARIOS);
  for (const n of names) if (!SCENARIOS[n]) throw new Error(`unknown scenario '${n}'; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const figures: Figure[] = [];
  for (const name of names) {
    const s = SCENARIOS[name];
    const ours: number[] = [];
    const reference: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await s.run(i);
      log(`${name} run ${i + 1}/${RUNS}: ours ${r.ours.toFixed(0)} ${s.unit}, reference ${r.reference.toFixed(0)} ${s.unit}`);
      ours.push(r.ours);
      reference.push(r.reference);
    }
    const o = median(ours);
    const ref = median(reference);
    figures.push({ name, unit: s.unit, ours: Math.round(o), reference: Math.round(ref), referenceName: s.referenceName, ratio: Number((o / ref).toFixed(3)), runs: { ours, reference } });
  }
  const result = {
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
    settings: { events: EVENTS, runs: RUNS, eventBytes: JSON.stringify(event(0)).length },
    figures,
  };
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results', `${result.at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  if (flag('json')) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(`scenario\tours\treference\tratio\n`);
    for (const f of figures) process.stdout.write(`${f.name}\t${f.ours} ${f.unit}\t${f.reference} ${f.unit} (${f.referenceName})\t${f.ratio}\n`);
    process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
