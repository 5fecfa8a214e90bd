import { KafkaJS } from '@confluentinc/kafka-javascript';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Pool } from 'pg';
import type { EventEnvelope } from '../libs/contracts/src/envelope';
import { CACHE, freePort, ROOT } from '../test/harness/platform';
import { CpuMeter, kafkaPids, postgresPids } from './cpu';

/**
 * The processor's peer in `process-vs-connect`: Kafka Connect (standalone worker) with the
 * Debezium JDBC sink writing each event as one upserted row of one table. Jars: fetched by
 * scripts/bench.sh (scripts/connect/*-pom.xml) into $TRIBUTARY_CACHE/connect.
 */
export const CONNECT_DIR = path.join(CACHE, 'connect');
const TABLE = 'connect_events';

/**
 * The settings, reported with the figures. JsonConverter with schemas (schemaless JSON fails in
 * the Debezium sink with a NullPointerException); upsert keyed on the same (tenant, id) the event
 * store is unique on (ids are only unique per tenant: `id` alone would fold tenants together);
 * batch.size 500 = the consumer's default max.poll.records; reWriteBatchedInserts so the driver
 * sends each JDBC batch as multi-row statements, as a user tuning for throughput would.
 */
export const CONNECT_SETTINGS = {
  'tasks.max': '2',
  'batch.size': '500',
  'insert.mode': 'upsert',
  'primary.key.mode': 'record_value',
  'primary.key.fields': 'tenant,id',
  'schema.evolution': 'none',
  'use.time.zone': 'UTC',
  'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
  'value.converter.schemas.enable': 'true',
  'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
  'consumer.max.poll.records': '500',
  jdbcUrlOptions: 'reWriteBatchedInserts=true',
  heap: '-Xms256M -Xmx2G (connect-standalone.sh defaults, with its G1 flags)',
};

/** Versions of the fetched jars (worker, sink, Hibernate, driver), read from their file names. */
export function connectVersions(): Record<string, string> {
  const find = (dir: string, artifact: string) => {
    const f = fs.existsSync(dir) ? fs.readdirSync(dir).find((n) => n.startsWith(`${artifact}-`) && /^\d/.test(n.slice(artifact.length + 1))) : undefined;
    return f ? f.slice(artifact.length + 1, -'.jar'.length) : 'missing';
  };
  const plugin = path.join(CONNECT_DIR, 'plugins/debezium-jdbc');
  return {
    'connect-runtime': find(path.join(CONNECT_DIR, 'worker'), 'connect-runtime'),
    'debezium-connector-jdbc': find(plugin, 'debezium-connector-jdbc'),
    'hibernate-core': find(plugin, 'hibernate-core'),
    postgresql: find(plugin, 'postgresql'),
  };
}

/** What each row of the Connect side holds, for the scenario's output. */
export const CONNECT_WRITES =
  `one table ${TABLE} (text columns, time/received_at timestamptz, data/extensions jsonb, primary key (tenant, id)), one upsert per event; ` +
  'its topic carries the gateway envelopes re-wrapped as JsonConverter schema+payload JSON (same key, same partition)';

const str = (field: string, optional = false, name?: string) => ({ type: 'string', optional, field, ...(name ? { name } : {}) });
const ZONED = 'io.debezium.time.ZonedTimestamp';
const JSON_TYPE = 'io.debezium.data.Json';
/** The envelope as a Connect struct; JSON values travel as strings of Debezium's Json type (→ jsonb). */
const SCHEMA = {
  type: 'struct',
  name: 'tributary.Event',
  optional: false,
  fields: [
    str('tenant'), str('id'), str('type'), str('source'), str('subject', true),
    str('time', false, ZONED), str('received_at', false, ZONED), str('datacontenttype', true),
    str('data', true, JSON_TYPE), str('partitionkey', true), str('extensions', false, JSON_TYPE),
  ],
};

/** One gateway envelope in the schema+payload form JsonConverter (schemas.enable=true) reads. */
export function wrapForConnect(e: EventEnvelope): string {
  return JSON.stringify({
    schema: SCHEMA,
    payload: {
      tenant: e.tenant, id: e.id, type: e.type, source: e.source, subject: e.subject, time: e.time, received_at: e.receivedAt,
      datacontenttype: e.datacontenttype, data: e.data === undefined ? null : JSON.stringify(e.data), partitionkey: e.partitionkey, extensions: JSON.stringify(e.extensions ?? {}),
    },
  });
}

/**
 * Copies the `total` messages of `from` (what the gateway produced, the processor's input) to
 * `to`, each wrapped for Connect, same key and same partition, with the gateway's producer settings.
 */
export async function copyWrapped(brokers: string, from: string, to: string, total: number): Promise<void> {
  const kafka = new KafkaJS.Kafka({ 'bootstrap.servers': brokers, kafkaJS: { logLevel: KafkaJS.logLevel.ERROR } } as any);
  const producer = kafka.producer({ 'enable.idempotence': true, acks: -1, 'linger.ms': 5, 'compression.type': 'lz4' } as any);
  const consumer = kafka.consumer({ 'group.id': `bench-copy-${to}`, 'auto.offset.reset': 'earliest', 'enable.auto.commit': false } as any);
  await producer.connect();
  await consumer.connect();
  let copied = 0;
  let failed: Error | undefined;
  try {
    await consumer.subscribe({ topics: [from] });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        try {
          await producer.send({
            topic: to,
            messages: batch.messages.map((m) => ({ key: m.key, partition: batch.partition, value: wrapForConnect(JSON.parse(m.value!.toString())) })),
          });
          copied += batch.messages.length;
        } catch (e) {
          failed = e as Error;
        }
      },
    });
    await until(`${total} messages copied to ${to}`, async () => {
      if (failed) throw failed;
      return copied >= total;
    }, 300000, 50);
    if (copied !== total) throw new Error(`copied ${copied} messages to ${to}, expected ${total}`);
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}

/** waitFor without its retry on errors: a failure (Connect exited, a task failed) ends the wait at once. */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null) return;
  await new Promise((r) => {
    c.once('exit', r);
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 10000).unref();
  });
}

/**
 * Starts a standalone worker with the sink on `topic` writing into `schema`, and measures its drain
 * of `total` events: rows/s from the first row written to the last (each row stamps its own
 * insert time, so the measure costs Postgres no polling of the table), and CPU per event from
 * the first row seen until all are there. Throws unless the table then holds exactly `total` rows.
 */
export async function connectDrain(db: Pool, schema: string, topic: string, total: number): Promise<{ rate: number; rows: number; extra: Record<string, number> }> {
  const worker = path.join(CONNECT_DIR, 'worker');
  const plugins = path.join(CONNECT_DIR, 'plugins');
  if (!fs.existsSync(path.join(plugins, 'debezium-jdbc')) || !fs.readdirSync(worker).some((f) => f.startsWith('connect-runtime'))) {
    throw new Error(`no Kafka Connect / Debezium jars under ${CONNECT_DIR} (scripts/connect/fetch.sh, run by bench.sh, fetches them from Maven Central; see ${CONNECT_DIR}/fetch.log)`);
  }
  await db.query(`CREATE SCHEMA "${schema}"`);
  // The user's own DDL (schema.evolution=none); written_at is ours, for the measure only.
  await db.query(`CREATE TABLE "${schema}".${TABLE} (
    tenant text NOT NULL, id text NOT NULL, type text NOT NULL, source text NOT NULL, subject text,
    time timestamptz NOT NULL, received_at timestamptz NOT NULL, datacontenttype text, data jsonb,
    partitionkey text, extensions jsonb NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant, id))`);

  const db_ = new URL(process.env.DATABASE_URL!);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-connect-'));
  const name = 'bench-jdbc-sink';
  const { jdbcUrlOptions, heap: _heap, ...settings } = CONNECT_SETTINGS;
  const workerProps = {
    'bootstrap.servers': process.env.KAFKA_BROKERS!,
    'key.converter': settings['key.converter'],
    'value.converter': settings['value.converter'],
    'value.converter.schemas.enable': settings['value.converter.schemas.enable'],
    'consumer.max.poll.records': settings['consumer.max.poll.records'],
    'offset.storage.file.filename': path.join(dir, 'offsets'),
    'plugin.path': plugins,
    listeners: `http://127.0.0.1:${port}`,
  };
  const connectorProps = {
    name,
    'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
    topics: topic,
    'connection.url': `jdbc:postgresql://${db_.hostname}:${db_.port || 5432}${db_.pathname}?currentSchema=${schema}&${jdbcUrlOptions}`,
    'connection.username': decodeURIComponent(db_.username),
    'connection.password': decodeURIComponent(db_.password),
    'collection.name.format': TABLE,
    'tasks.max': settings['tasks.max'],
    'batch.size': settings['batch.size'],
    'insert.mode': settings['insert.mode'],
    'primary.key.mode': settings['primary.key.mode'],
    'primary.key.fields': settings['primary.key.fields'],
    'schema.evolution': settings['schema.evolution'],
    'use.time.zone': settings['use.time.zone'],
  };
  const props = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `${k}=${v}`).join('\n');
  fs.writeFileSync(path.join(dir, 'worker.properties'), props(workerProps));
  fs.writeFileSync(path.join(dir, 'connector.properties'), props(connectorProps));

  fs.mkdirSync(path.join(ROOT, '.cache/test-logs'), { recursive: true });
  const logFile = fs.openSync(path.join(ROOT, '.cache/test-logs', `bench-connect-${port}.log`), 'a');
  const child = spawn('java', [
    '-Xms256M', '-Xmx2G', '-server', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:InitiatingHeapOccupancyPercent=35', '-XX:+ExplicitGCInvokesConcurrent', '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${path.join(ROOT, 'scripts/connect/log4j2.properties')}`,
    '-cp', `${worker}/*`, 'org.apache.kafka.connect.cli.ConnectStandalone', path.join(dir, 'worker.properties'), path.join(dir, 'connector.properties'),
  ], { stdio: ['ignore', logFile, logFile] });
  const table = `"${schema}".${TABLE}`;
  try {
    const alive = () => {
      if (child.exitCode !== null) throw new Error(`Kafka Connect exited with ${child.exitCode}; see .cache/test-logs/bench-connect-${port}.log`);
    };
    // Its tasks failing (a bad record, a type the sink cannot bind) stops the scenario with their trace.
    const failedTask = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/connectors/${name}/status`).catch(() => undefined); // not listening yet
      if (res?.status !== 200) return;
      const s = (await res.json()) as { tasks?: { state: string; trace?: string }[] };
      const f = s.tasks?.find((t) => t.state === 'FAILED');
      if (f) throw new Error(`Kafka Connect task failed: ${(f.trace ?? '').slice(0, 1500)}`);
    };
    const cpu = new CpuMeter({ connect: () => (child.pid !== undefined && child.exitCode === null ? [child.pid] : []), postgres: postgresPids, kafka: kafkaPids });
    let polls = 0;
    await until('first Connect row', async () => {
      alive();
      if (++polls % 50 === 0) await failedTask();
      if ((await db.query(`SELECT 1 FROM ${table} LIMIT 1`)).rowCount) {
        cpu.begin();
        return true;
      }
      return false;
    }, 180000, 20);
    await until('all Connect rows', async () => {
      alive();
      if (++polls % 20 === 0) await failedTask();
      return Number((await db.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n) >= total;
    }, 600000, 250);
    const extra = cpu.end(total);
    const r = (await db.query(`SELECT count(*) AS n, extract(epoch FROM max(written_at) - min(written_at))::float8 AS seconds FROM ${table}`)).rows[0];
    const rows = Number(r.n);
    if (rows !== total) throw new Error(`Connect's table holds ${rows} rows, expected ${total}`);
    return { rate: (rows - 1) / r.seconds, rows, extra };
  } finally {
    await stop(child);
    fs.rmSync(dir, { recursive: true, force: true });
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  }
}
