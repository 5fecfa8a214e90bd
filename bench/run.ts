import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Client, Pool } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'stream/promises';
import { CACHE, freePort, Platform, ROOT, waitFor } from '../test/harness/platform';
import { confluent, Contestant, kafkajs, platformatic } from './clients';
import { connectDrain, CONNECT_SETTINGS, connectVersions, CONNECT_WRITES, copyWrapped } from './connect';
import { CpuMeter, jaegerPids, kafkaPids, postgresPids } from './cpu';
import { closedLoop, inChunks, openLoop, percentile, Target } from './load';
import { noisyNeighbourRun } from './noisy-neighbour';

/**
 * `npm run bench [-- --json] [--scenario NAME] [--runs N] [--events N]`
 * Each scenario measures Tributary and a reference in the same run on the same broker/database,
 * and reports both with their ratio; every figure is the median of --runs runs (default 3).
 * Latency figures (unit ms) are better when lower, so their ratio ours/reference is too.
 */
interface Figure {
  name: string;
  unit: string;
  ours: number;
  reference: number;
  referenceName: string;
  ratio: number;
  runs: { ours: number[]; reference: number[] };
  /** Medians of the scenario's secondary numbers (percentiles, achieved rates). */
  extra?: Record<string, number>;
}
interface Sample { ours: number; reference: number; extra?: Record<string, number> }

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const RUNS = Number(option('runs', '3'));
const EVENTS = Number(option('events', '50000'));
const LIB = path.join(CACHE, 'kafka/lib/*');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

// ~1 KB JSON events, the size the ingest-batch scenario names, with the default Kafka key (the
// tenant), as the ingest scenarios send them.
const event = (i: number) => ({ id: `b-${i}`, type: 'bench.event', subject: `s-${i % 1000}`, data: { seq: i, payload: 'x'.repeat(900) } });
// For the processor's scenarios: partitionkey = subject (key tenant:subject, order still per
// stream) spreads the work over every partition; keyed by tenant, six tenants hash onto three of
// six partitions and one partition holds half the events.
const spreadEvent = (i: number) => ({ ...event(i), partitionkey: `s-${i % 1000}` });

async function postAll(p: Platform, key: string, n: number, batch: number, concurrency: number, make: (i: number) => object = event): Promise<number> {
  return inChunks(n, batch, concurrency, async (from, count) => {
    const r = await p.request('POST', '/v1/events', { key, body: Array.from({ length: count }, (_, j) => make(from + j)) });
    if (r.status !== 202) throw new Error(`ingest answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
  });
}

function createTopic(topic: string, partitions: number): void {
  execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', process.env.KAFKA_BROKERS!, '--create', '--topic', topic, '--partitions', String(partitions)], { stdio: 'ignore' });
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
 * TRIBUTARY_CPU_PROF_DIR (bench only): the processor (process scenario) and gateway (ingest
 * scenarios) children run with --cpu-prof and write .cpuprofile files under DIR/<app> on exit (summarise with dist/bench/profile-summary.js).
 */
const profileArgs = (app: 'gateway' | 'processor') =>
  process.env.TRIBUTARY_CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.TRIBUTARY_CPU_PROF_DIR, app)}`] : [];

/** CPU per event of every part of the platform the scenario runs (see bench/cpu.ts). */
const meter = (p: Platform) =>
  new CpuMeter({ gateway: () => p.pids().gateway, processor: () => p.pids().processors, postgres: postgresPids, kafka: kafkaPids, jaeger: jaegerPids });

async function ingestBatch(run: number): Promise<Record<string, Sample>> {
  const p = new Platform(`bench-ingest-${run}`, 6);
  await p.start({ processors: 0, gatewayNodeArgs: profileArgs('gateway') });
  try {
    const key = await p.tenant('bench');
    await postAll(p, key, 2000, 100, 8); // warm-up: JIT, connections
    const seconds = await postAll(p, key, EVENTS, 100, 8);
    const ours = EVENTS / seconds;
    const reference = producerPerformance(`${p.topic}.ref`, EVENTS);
    const out: Record<string, Sample> = { 'ingest-batch': { ours, reference } };
    const bridge = await bridgeIngest(`${p.topic}.bridge`, EVENTS).catch((e: Error) => {
      log(`strimzi bridge skipped: ${e.message}`);
      return undefined;
    });
    if (bridge !== undefined) out['ingest-batch: strimzi-bridge'] = { ours: bridge, reference };
    return out;
  } finally {
    await p.stop();
  }
}

/**
 * Pre-fills a topic through the gateway (not timed), then one processor drains it: events/s from
 * its first committed checkpoint to the one covering every event, and CPU per event.
 */
async function drain(p: Platform): Promise<{ total: number; rate: number; extra: Record<string, number> }> {
  await p.start({ processors: 0 });
  const tenants = ['t1', 't2', 't3', 't4', 't5', 't6'];
  const keys = await Promise.all(tenants.map((t) => p.tenant(t)));
  // Spread over tenants (and subjects, via partitionkey) so every partition has work.
  const perTenant = Math.floor(EVENTS / tenants.length);
  const total = perTenant * tenants.length;
  await Promise.all(keys.map((k) => postAll(p, k, perTenant, 500, 2, spreadEvent)));
  await p.startProcessor(undefined, profileArgs('processor'));
  // Progress = the checkpoints the processor commits with each batch (offsets start at 0, so
  // their sum is the events applied); far cheaper for Postgres than count(*) on events every 20 ms.
  const count = async () => Number((await p.db.query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM consumer_checkpoints WHERE group_id = $1`, [p.group])).rows[0].n);
  const cpu = meter(p);
  const first = await waitFor('first rows', async () => {
    const n = await count();
    if (n > 0) cpu.begin();
    return n > 0 ? { n, at: process.hrtime.bigint() } : undefined;
  }, 60000, 20);
  const end = await waitFor('all rows', async () => ((await count()) >= total ? process.hrtime.bigint() : undefined), 600000, 20);
  return { total, rate: (total - first.n) / (Number(end - first.at) / 1e9), extra: cpu.end(total - first.n) };
}

/**
 * `process` with every event traced (the default: two spans per event, exported to Jaeger), and
 * the same without tracing (OTEL_SDK_DISABLED), both against one COPY of the applied rows.
 */
async function processScenario(run: number): Promise<Record<string, Sample>> {
  const untraced = new Platform(`bench-process-untraced-${run}`, 6, { OTEL_SDK_DISABLED: 'true' });
  let plain: Awaited<ReturnType<typeof drain>>;
  try {
    plain = await drain(untraced);
  } finally {
    await untraced.stop();
  }
  const p = new Platform(`bench-process-${run}`, 6);
  try {
    const { total, rate: ours, extra } = await drain(p);
    // Reference: the same rows COPYed straight into a table with the same columns and indexes.
    const csv = path.join(os.tmpdir(), `tributary-bench-${p.schema}.csv`);
    const url = process.env.DATABASE_URL!;
    execFileSync('psql', [url, '-q', '-c', `\\copy (SELECT * FROM "${p.schema}".events) TO '${csv}' CSV`]);
    execFileSync('psql', [url, '-q', '-c', `CREATE TABLE "${p.schema}".copy_ref (LIKE "${p.schema}".events INCLUDING DEFAULTS)`]);
    for (const idx of ['(tenant_id, event_id)', '(tenant_id, subject, sequence)', '(tenant_id, time, event_id)']) {
      execFileSync('psql', [url, '-q', '-c', `CREATE INDEX ON "${p.schema}".copy_ref ${idx}`]);
    }
    // Streamed by this process on one connection (as psql's \\copy would), so the backend's CPU can be read.
    const client = new Client({ connectionString: url });
    await client.connect();
    const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const refCpu = new CpuMeter({ postgres: () => [backend] });
    refCpu.begin();
    const t0 = process.hrtime.bigint();
    await pipeline(fs.createReadStream(csv), client.query(copyFrom(`COPY "${p.schema}".copy_ref FROM STDIN CSV`)));
    const reference = total / (Number(process.hrtime.bigint() - t0) / 1e9);
    const refPostgres = refCpu.end(total)['cpu.postgres.usPerEvent'];
    await client.end();
    if (refPostgres !== undefined) extra['cpu.reference.postgres.usPerEvent'] = refPostgres;
    fs.rmSync(csv, { force: true });
    return { process: { ours, reference, extra }, 'process, tracing off': { ours: plain.rate, reference, extra: plain.extra } };
  } finally {
    await p.stop();
  }
}


const VS_CONNECT_PARTITIONS = 12;
const PROCESSOR_WRITES = 'event store row + stream sequence + counts projection + checkpoint per event, one transaction per batch';

/**
 * The processor against what a platform engineer would run instead: Kafka Connect with the
 * Debezium JDBC sink (bench/connect.ts). The same events (the `process` generator, through the
 * gateway) over 12 partitions; the processor drains its topic untraced, then traced (every
 * event's spans exported to Jaeger); Connect drains a copy of the same messages wrapped as
 * schema+payload JSON (same keys and partitions) into one upserted table in the same Postgres.
 * Each is measured from its first row to its last; ratio = processor / Connect.
 */
async function processVsConnect(run: number): Promise<Record<string, Sample>> {
  const connectTopic = `bench.connect.${Date.now().toString(36)}-${run}`;
  const rowsOf = async (p: Platform) => Number((await p.db.query('SELECT count(*) AS n FROM events')).rows[0].n);
  const untraced = new Platform(`bench-vs-connect-untraced-${run}`, VS_CONNECT_PARTITIONS, { OTEL_SDK_DISABLED: 'true' });
  let plain: Awaited<ReturnType<typeof drain>> & { rows: number };
  try {
    const d = await drain(untraced);
    plain = { ...d, rows: await rowsOf(untraced) };
    // Connect's input: exactly the messages the processor just read, before anything else runs.
    createTopic(connectTopic, VS_CONNECT_PARTITIONS);
    await copyWrapped(process.env.KAFKA_BROKERS!, untraced.topic, connectTopic, d.total);
  } finally {
    await untraced.stop();
  }
  const p = new Platform(`bench-vs-connect-${run}`, VS_CONNECT_PARTITIONS);
  let traced: Awaited<ReturnType<typeof drain>> & { rows: number };
  try {
    const d = await drain(p);
    traced = { ...d, rows: await rowsOf(p) };
  } finally {
    await p.stop();
  }
  const db = new Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  let connect: Awaited<ReturnType<typeof connectDrain>>;
  try {
    connect = await connectDrain(db, `bench_connect_${Date.now().toString(36)}_${run}`, connectTopic, plain.total);
  } finally {
    await db.end();
  }
  const reference = connect.rate;
  const common = {
    'events': plain.total,
    'connect.rows': connect.rows,
    ...Object.fromEntries(Object.entries(connect.extra).map(([k, v]) => [k.replace(/^cpu\./, 'cpu.reference.'), v])),
  };
  return {
    'process-vs-connect': { ours: traced.rate, reference, extra: { ...traced.extra, ...common, 'processor.rows': traced.rows } },
    'process-vs-connect, tracing off': { ours: plain.rate, reference, extra: { ...plain.extra, ...common, 'processor.rows': plain.rows } },
  };
}

/** A child process started by the bench; stopped with SIGTERM (then SIGKILL) at the end. */
async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  await new Promise((r) => {
    c.once('exit', r);
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 5000).unref();
  });
}

/**
 * The peer: the Strimzi Kafka Bridge (HTTP → Kafka, jars fetched by bench.sh into .cache/bridge)
 * on the same broker, same batches (100 records per POST, 8 concurrent), acks=all. It is skipped,
 * with the reason logged, when its jars are not there.
 */
async function bridgeIngest(topic: string, n: number): Promise<number> {
  const lib = path.join(ROOT, '.cache/bridge/lib');
  if (!fs.existsSync(lib) || !fs.readdirSync(lib).some((f) => f.startsWith('kafka-bridge'))) throw new Error('no bridge jars in .cache/bridge/lib (bench.sh fetches them from Maven Central)');
  execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', process.env.KAFKA_BROKERS!, '--create', '--topic', topic, '--partitions', '6'], { stdio: 'ignore' });
  const port = await freePort();
  const config = path.join(os.tmpdir(), `tributary-bridge-${port}.properties`);
  fs.writeFileSync(config, [
    'bridge.id=tributary-bench',
    `kafka.bootstrap.servers=${process.env.KAFKA_BROKERS}`,
    // The gateway's producer settings.
    'kafka.producer.acks=all', 'kafka.producer.enable.idempotence=true', 'kafka.producer.linger.ms=5', 'kafka.producer.compression.type=lz4',
    'http.enabled=true', 'http.host=127.0.0.1', `http.port=${port}`, 'http.consumer.enabled=false', 'http.producer.enabled=true',
  ].join('\n'));
  const logFile = fs.openSync(path.join(ROOT, '.cache/test-logs', `bench-bridge-${port}.log`), 'a');
  const bridge = spawn('java', ['-cp', `${lib}/*`, 'io.strimzi.kafka.bridge.Application', `--config-file=${config}`], { stdio: ['ignore', logFile, logFile] });
  try {
    await waitFor('bridge ready', async () => {
      if (bridge.exitCode !== null) throw new Error(`bridge exited with ${bridge.exitCode}`);
      return (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200;
    }, 60000, 250);
    const target: Target = { url: `http://127.0.0.1:${port}/topics/${topic}`, headers: { 'content-type': 'application/vnd.kafka.json.v2+json' } };
    const body = (from: number, count: number) => JSON.stringify({ records: Array.from({ length: count }, (_, j) => ({ key: 'bench', value: event(from + j) })) });
    const sendAll = async (total: number) =>
      total / (await inChunks(total, 100, 8, async (from, count) => {
        const r = await fetch(target.url, { method: 'POST', headers: target.headers, body: body(from, count) });
        await r.text();
        if (r.status !== 200) throw new Error(`bridge answered ${r.status}`);
      }));
    await sendAll(2000); // warm-up, as for the gateway
    return await sendAll(n);
  } finally {
    await stopChild(bridge);
    fs.rmSync(config, { force: true });
  }
}

const SINGLE_RATE = 2000;

/** The bare HTTP + producer reference server (bench/bare-ingest.ts) as a child process. */
async function startBare(topic: string): Promise<{ url: string; child: ChildProcess }> {
  createTopic(topic, 6);
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/bench/bare-ingest.js')], { env: { ...process.env, PORT: String(port), TOPIC: topic }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`bare-ingest exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/`, child };
}

/**
 * One event per request at a fixed offered rate (open loop, 2,000 req/s) → latency percentiles,
 * then the most req/s 128 closed-loop clients get. Reference: the bare server, same producer.
 */
async function ingestSingle(run: number): Promise<Record<string, Sample>> {
  const p = new Platform(`bench-single-${run}`, 6);
  await p.start({ processors: 0, gatewayNodeArgs: profileArgs('gateway') });
  const bare = await startBare(`${p.topic}.bare`);
  try {
    const key = await p.tenant('bench');
    const ours: Target = { url: `${p.url}/v1/events`, headers: { authorization: `Bearer ${key}` } };
    const ref: Target = { url: bare.url, headers: {} };
    const body = (k: number) => JSON.stringify(event(k));
    const requests = Math.min(EVENTS, SINGLE_RATE * 10);
    const seconds = Math.max(1, Math.min(5, requests / SINGLE_RATE));
    // Warm-up at the measured rate, 2 s per side, not counted: connections opened, code compiled,
    // heaps grown, as a server in service has; the open loop then measures the steady state.
    for (const t of [ours, ref]) await openLoop(t, SINGLE_RATE, SINGLE_RATE * 2, body);
    const o = await openLoop(ours, SINGLE_RATE, requests, body);
    const r = await openLoop(ref, SINGLE_RATE, requests, body);
    if (o.errors || r.errors) throw new Error(`ingest-single: ${o.errors} / ${r.errors} failed requests`);
    const oMax = await closedLoop(ours, 128, seconds, body);
    const rMax = await closedLoop(ref, 128, seconds, body);
    const pct = (x: typeof o, prefix: string) => ({ [`${prefix}p50`]: percentile(x.latencies, 50), [`${prefix}p95`]: percentile(x.latencies, 95), [`${prefix}p99`]: percentile(x.latencies, 99), [`${prefix}achievedPerSec`]: x.achieved });
    return {
      'ingest-single p99 at 2000 req/s': { ours: percentile(o.latencies, 99), reference: percentile(r.latencies, 99), extra: { ...pct(o, 'ours.'), ...pct(r, 'reference.') } },
      'ingest-single max req/s': { ours: oMax, reference: rMax },
    };
  } finally {
    await stopChild(bare.child);
    await p.stop();
  }
}

const E2E_BATCH = 50;
const E2E_RATE = 5000;

/** Kafka's EndToEndLatency: produce one record, wait until a consumer has it, repeat (ms). */
function endToEndLatency(topic: string, n: number): { p50: number; p99: number } {
  execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', process.env.KAFKA_BROKERS!, '--create', '--topic', topic, '--partitions', '1'], { stdio: 'ignore' });
  const out = execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.EndToEndLatency', process.env.KAFKA_BROKERS!, topic, String(n), 'all', '1024'], { encoding: 'utf8' });
  const m = /Percentiles: 50th = ([\d.]+), 99th = ([\d.]+)/.exec(out);
  if (!m) throw new Error(`unexpected EndToEndLatency output: ${out.slice(-300)}`);
  return { p50: Number(m[1]), p99: Number(m[2]) };
}

/**
 * Batches of 50 events every 10 ms (5,000 events/s, open loop) through gateway and processor.
 * Latency per event = when its row became visible − its received_at (stamped by the gateway).
 * Visible = the first poll (every 10 ms) of the checkpoints that shows its partition past its
 * offset: the checkpoint commits with the rows, so this is the commit time, overstated by at most
 * one poll interval.
 */
async function e2eLatency(run: number): Promise<Record<string, Sample>> {
  const p = new Platform(`bench-e2e-${run}`, 6);
  await p.start({ processors: 1 });
  try {
    const key = await p.tenant('bench');
    const offsetsSum = async () => Number((await p.db.query(`SELECT coalesce(sum(next_offset), 0)::bigint AS n FROM consumer_checkpoints WHERE group_id = $1`, [p.group])).rows[0].n);
    const warm = 1000;
    await postAll(p, key, warm, E2E_BATCH, 4, spreadEvent); // warm-up: the processor joins and has applied these
    await waitFor('warm-up applied', async () => (await offsetsSum()) >= warm, 120000, 50);

    const total = Math.max(E2E_BATCH, Math.floor(Math.min(EVENTS, E2E_RATE * 10) / E2E_BATCH) * E2E_BATCH);
    const samples: { at: number; next: Map<number, number> }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const r = await p.db.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset FROM consumer_checkpoints WHERE group_id = $1`, [p.group]);
        samples.push({ at: Date.now(), next: new Map(r.rows.map((x) => [x.partition, Number(x.next_offset)])) });
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const target: Target = { url: `${p.url}/v1/events`, headers: { authorization: `Bearer ${key}` } };
    const cpu = meter(p);
    const load = await openLoop(target, E2E_RATE / E2E_BATCH, total / E2E_BATCH, (k) => JSON.stringify(Array.from({ length: E2E_BATCH }, (_, j) => ({ ...spreadEvent(k * E2E_BATCH + j), id: `e-${k * E2E_BATCH + j}` }))), () => cpu.begin());
    if (load.errors) throw new Error(`e2e-latency: ${load.errors} failed requests`);
    await waitFor('all applied', async () => (await offsetsSum()) >= warm + total, 300000, 20);
    const cpuPerEvent = cpu.end(total);
    polling = false;
    await poller;

    const rows = await p.db.query<{ kafka_partition: number; kafka_offset: string; received: number }>(
      `SELECT kafka_partition, kafka_offset, (extract(epoch FROM received_at) * 1000)::float8 AS received FROM events WHERE event_id LIKE 'e-%'`,
    );
    const latencies: number[] = [];
    for (const r of rows.rows) {
      const offset = Number(r.kafka_offset);
      // Samples are in time order and checkpoints only grow: binary search the first one past it.
      let lo = 0;
      let hi = samples.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((samples[mid].next.get(r.kafka_partition) ?? 0) > offset) hi = mid;
        else lo = mid + 1;
      }
      latencies.push(samples[lo].at - r.received);
    }
    latencies.sort((a, b) => a - b);
    const gaps = samples.slice(1).map((s, i) => s.at - samples[i].at).sort((a, b) => a - b);
    const ref = endToEndLatency(`${p.topic}.e2e-ref`, Math.min(1000, Math.max(200, Math.floor(total / 10))));
    return {
      'e2e-latency p99 at 5000 events/s': {
        ours: percentile(latencies, 99),
        reference: ref.p99,
        extra: { 'ours.p50': percentile(latencies, 50), 'ours.p99': percentile(latencies, 99), 'ours.events': latencies.length, 'ours.offeredEventsPerSec': load.achieved * E2E_BATCH, 'pollIntervalMs.p50': percentile(gaps, 50), 'reference.p50': ref.p50, 'reference.p99': ref.p99, ...cpuPerEvent },
      },
    };
  } finally {
    await p.stop();
  }
}

/** Kafka's ConsumerPerformance on `topic`: nMsg.sec, records/s from its start, group join included. */
function consumerPerformance(topic: string, n: number): number {
  const out = execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.ConsumerPerformance', '--bootstrap-server', process.env.KAFKA_BROKERS!, '--topic', topic, '--messages', String(n)], { encoding: 'utf8' });
  // start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
  const last = out.trim().split('\n').pop()!.split(',').map((x) => x.trim());
  const v = Number(last[5]);
  if (!Number.isFinite(v)) throw new Error(`unexpected ConsumerPerformance output: ${out.slice(-300)}`);
  return v;
}

/**
 * Each Node Kafka client produces N 1 KiB records and consumes them back (bench/clients.ts for
 * the settings); references: ProducerPerformance (same settings, no compression) and
 * ConsumerPerformance on records it produced, all on the same broker in the same run.
 */
async function clientsScenario(run: number): Promise<Record<string, Sample>> {
  const brokers = process.env.KAFKA_BROKERS!;
  const id = `${Date.now().toString(36)}-${run}`;
  const n = EVENTS;
  const refTopic = `bench.clients.${id}.ref`;
  execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', brokers, '--create', '--topic', refTopic, '--partitions', '6'], { stdio: 'ignore' });
  const out = execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.ProducerPerformance', '--topic', refTopic, '--num-records', String(n), '--record-size', '1024', '--throughput', '-1',
    '--producer-props', `bootstrap.servers=${brokers}`, 'acks=all', 'enable.idempotence=true', 'linger.ms=5', 'compression.type=none'], { encoding: 'utf8' });
  const m = /records sent, ([\d.]+) records\/sec/.exec(out.trim().split('\n').pop() ?? '');
  if (!m) throw new Error(`unexpected ProducerPerformance output: ${out.slice(-300)}`);
  const produceRef = Number(m[1]);
  const consumeRef = consumerPerformance(refTopic, n);
  const contestants: Contestant[] = [confluent(brokers), kafkajs(brokers), platformatic(brokers)];
  const result: Record<string, Sample> = {};
  for (const c of contestants) {
    const topic = `bench.clients.${id}.${c.name.replace(/[^a-z0-9]/gi, '')}`;
    execFileSync('java', ['-cp', LIB, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', brokers, '--create', '--topic', topic, '--partitions', '6'], { stdio: 'ignore' });
    const produced = await c.produce(topic, n);
    const consumed = await c.consume(topic, n);
    result[`clients produce: ${c.name}`] = { ours: produced, reference: produceRef };
    result[`clients consume: ${c.name}`] = { ours: consumed, reference: consumeRef };
  }
  return result;
}

/** Rebuild of the counts projection from EVENTS stored events (`tributary rebuild counts`) vs one SQL recount of the same rows. */
async function rebuildScenario(run: number): Promise<Record<string, Sample>> {
  const p = new Platform(`bench-rebuild-${run}`, 6);
  await p.start({ processors: 0 });
  try {
    // Stored directly (the rebuild reads the store, not Kafka): 20 tenants × 10 types over 7 days.
    await p.db.query(
      `INSERT INTO events (tenant_id, event_id, type, source, subject, time, received_at, data, kafka_partition, kafka_offset)
       SELECT 't' || (i % 20), 'e-' || i, 'type.' || (i % 10), '/bench', 's-' || (i % 1000),
              timestamptz '2026-01-01' + (i % 10080) * interval '1 minute', now(), jsonb_build_object('seq', i), i % 6, i / 6
         FROM generate_series(1, $1::int) AS i`,
      [EVENTS],
    );
    const r = await p.cli('rebuild', 'counts', '--json');
    if (r.code !== 0) throw new Error(`rebuild exited ${r.code}: ${r.err}`);
    const ours = EVENTS / JSON.parse(r.out).seconds;
    const t0 = process.hrtime.bigint();
    await p.db.query(`CREATE TABLE recount_ref (LIKE event_counts INCLUDING ALL)`);
    await p.db.query(`INSERT INTO recount_ref SELECT tenant_id, type, date_trunc('minute', time), count(*) FROM events WHERE status = 'processed' GROUP BY 1, 2, 3`);
    const reference = EVENTS / (Number(process.hrtime.bigint() - t0) / 1e9);
    return { rebuild: { ours, reference } };
  } finally {
    await p.stop();
  }
}

const SCENARIOS: Record<string, { unit: (figure: string) => string; referenceName: (figure: string) => string; run: (i: number) => Promise<Record<string, Sample>> }> = {
  'ingest-batch': {
    unit: () => 'events/s',
    referenceName: () => 'kafka ProducerPerformance (acks=all, idempotent, linger 5 ms, lz4, 1 KiB)',
    run: ingestBatch,
  },
  'ingest-single': {
    unit: (f) => (f.includes('p99') ? 'ms' : 'req/s'),
    referenceName: () => 'bare Node http server + the same producer (bench/bare-ingest.ts)',
    run: ingestSingle,
  },
  process: { unit: () => 'events/s', referenceName: () => 'COPY of the same rows into an indexed table', run: processScenario },
  'e2e-latency': { unit: () => 'ms', referenceName: () => 'kafka EndToEndLatency (acks=all, 1 KiB, one record at a time)', run: e2eLatency },
  'process-vs-connect': {
    unit: () => 'events/s',
    referenceName: () => `Kafka Connect ${connectVersions()['connect-runtime']} standalone + Debezium JDBC sink ${connectVersions()['debezium-connector-jdbc']} (${CONNECT_SETTINGS['tasks.max']} tasks, batch.size ${CONNECT_SETTINGS['batch.size']}, upsert on tenant,id); Connect writes ${CONNECT_WRITES}; the processor writes ${PROCESSOR_WRITES}`,
    run: processVsConnect,
  },
  rebuild: { unit: () => 'events/s', referenceName: () => 'INSERT … SELECT … GROUP BY recount of the same rows', run: rebuildScenario },
  'noisy-neighbour': { unit: () => 'ms', referenceName: () => 'the same quiet tenant with no neighbour', run: noisyNeighbourScenario },
  clients: {
    unit: () => 'records/s',
    referenceName: (f) => (f.includes('produce') ? 'kafka ProducerPerformance (acks=all, idempotent, linger 5 ms, no compression)' : 'kafka ConsumerPerformance (nMsg.sec, group join included)'),
    run: clientsScenario,
  },
};

/**
 * The quiet tenant's ingest and end-to-end p99 beside a tenant flooding at 10× its rate limit and
 * holding 200 slow connections (ours), against the same quiet load alone (reference), same run.
 * Target: ratio ≤ 2 (issue: no tenant can slow another).
 */
async function noisyNeighbourScenario(run: number): Promise<Record<string, Sample>> {
  const o = { quietRate: 200, quietEvents: Math.min(EVENTS, 2000), tenantRate: 2000, slowConnections: 200 };
  const alone = await noisyNeighbourRun(`bench-quiet-${run}`, o, false);
  const beside = await noisyNeighbourRun(`bench-noisy-${run}`, o, true);
  for (const [name, f] of [['alone', alone], ['beside the neighbour', beside]] as const) {
    if (f.quietErrors || f.quietProcessed !== o.quietEvents) throw new Error(`noisy-neighbour (${name}): ${f.quietErrors} quiet requests failed, ${f.quietProcessed}/${o.quietEvents} processed`);
  }
  const extra = { 'noisy.accepted': beside.noisyAccepted, 'noisy.rateLimitedRequests': beside.noisyRateLimited, 'ours.ingestP50': beside.ingestP50, 'reference.ingestP50': alone.ingestP50, 'ours.e2eP50': beside.e2eP50, 'reference.e2eP50': alone.e2eP50 };
  return {
    'noisy-neighbour quiet ingest p99': { ours: beside.ingestP99, reference: alone.ingestP99, extra },
    'noisy-neighbour quiet e2e p99': { ours: beside.e2eP99, reference: alone.e2eP99 },
  };
}

async function main() {
  const only = option('scenario', '');
  const names = only ? only.split(',') : Object.keys(SCENARIOS);
  for (const n of names) if (!SCENARIOS[n]) throw new Error(`unknown scenario '${n}'; known: ${Object.keys(SCENARIOS).join(', ')}`);
  const figures: Figure[] = [];
  for (const name of names) {
    const s = SCENARIOS[name];
    const samples = new Map<string, Sample[]>();
    for (let i = 0; i < RUNS; i++) {
      const r = await s.run(i);
      for (const [figure, x] of Object.entries(r)) {
        log(`${figure} run ${i + 1}/${RUNS}: ours ${x.ours.toFixed(1)} ${s.unit(figure)}, reference ${x.reference.toFixed(1)} ${s.unit(figure)}`);
        samples.set(figure, [...(samples.get(figure) ?? []), x]);
      }
    }
    for (const [figure, xs] of samples) {
      const ours = xs.map((x) => x.ours);
      const reference = xs.map((x) => x.reference);
      const o = median(ours);
      const ref = median(reference);
      const keys = [...new Set(xs.flatMap((x) => Object.keys(x.extra ?? {})))];
      const extra = keys.length ? Object.fromEntries(keys.map((k) => [k, Number(median(xs.map((x) => x.extra?.[k] ?? NaN)).toFixed(1))])) : undefined;
      const round = (v: number) => (s.unit(figure) === 'ms' ? Number(v.toFixed(1)) : Math.round(v));
      figures.push({ name: figure, unit: s.unit(figure), ours: round(o), reference: round(ref), referenceName: s.referenceName(figure), ratio: Number((o / ref).toFixed(3)), runs: { ours, reference }, ...(extra ? { extra } : {}) });
    }
  }
  const load = os.loadavg();
  const result = {
    at: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverageAtEnd: load.map((x) => Number(x.toFixed(2))) },
    settings: { events: EVENTS, runs: RUNS, eventBytes: JSON.stringify(event(0)).length, batchSize: process.env.TRIBUTARY_BATCH_SIZE ?? 'default', partitionsConcurrently: process.env.TRIBUTARY_PARTITIONS_CONCURRENTLY ?? 'default' },
    ...(names.includes('process-vs-connect') ? { connect: { versions: connectVersions(), settings: CONNECT_SETTINGS, writes: CONNECT_WRITES, processorWrites: PROCESSOR_WRITES, partitions: VS_CONNECT_PARTITIONS } } : {}),
    figures,
  };
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  const file = path.join(ROOT, 'bench/results', `${result.at.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  if (flag('json')) process.stdout.write(`${JSON.stringify(result)}\n`);
  else {
    process.stdout.write(`figure\tours\treference\tratio\n`);
    for (const f of figures) process.stdout.write(`${f.name}\t${f.ours} ${f.unit}\t${f.reference} ${f.unit} (${f.referenceName})\t${f.ratio}${f.extra ? `\t${JSON.stringify(f.extra)}` : ''}\n`);
    process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
  }
  // Kafka clients and keep-alive sockets may hold the loop open.
  process.exit(0);
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
