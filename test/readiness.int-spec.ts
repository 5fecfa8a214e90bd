import { KafkaJS } from '@confluentinc/kafka-javascript';
import * as fs from 'fs';
import { Client } from 'pg';
import { EventProducer } from '@tributary/kafka/event-producer';
import type { EventEnvelope } from '@tributary/contracts/envelope';
import { Platform, waitFor } from './harness/platform';
import { PrivateInfra } from './harness/private-infra';

/** The issue's bar: ready again within 10 s of the dependency answering, with no restart. */
const HEAL_BAR_MS = 10_000;
/** Kubernetes' readinessProbe timeoutSeconds (k8s/*.yaml): a probe answering later counts as failed. */
const PROBE_TIMEOUT_MS = 3_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET with a deadline: a probe that hangs fails the test instead of stalling it. */
async function probe(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Terminus' report from a 503: the gateway wraps it in problem+json `details`, the processor serves it as is. */
const report = (body: any): { error?: Record<string, any> } => (body?.type === 'about:blank' ? body.details : body) ?? {};

/** Established TCP connections from process `pid` to 127.0.0.1:`port` (from /proc: what `ss -tnp` shows). */
function connectionsTo(pid: number, port: number): number {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set(
    fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[2] === remote && f[3] === '01')
      .map((f) => f[9]),
  );
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    const target = (() => { try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } })();
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && inodes.has(m[1])) n++;
  }
  return n;
}

/**
 * Restarts a dependency and measures, for each app, how long after the dependency first answered
 * (a fresh client of the test's own) its `/health/ready` was 200 again. Gives up 5 s past the bar.
 */
async function measureHealing(what: string, restart: () => Promise<void>, answers: () => Promise<boolean>, apps: Record<string, string>): Promise<Record<string, number>> {
  let answeredAt: number | undefined;
  const started = Date.now();
  const restarting = restart();
  const answering = waitFor(`${what} answering again`, async () => (await answers().catch(() => false)) && (answeredAt = Date.now()), 180_000, 100);
  const healed = Object.entries(apps).map(async ([name, url]): Promise<[string, number]> => {
    for (;;) {
      const ok = await probe(`${url}/health/ready`).then((r) => r.status === 200, () => false);
      const now = Date.now();
      if (ok || (answeredAt !== undefined && now - answeredAt > HEAL_BAR_MS + 5_000)) return [name, ok ? now : Infinity];
      if (now - started > 240_000) throw new Error(`${what} never answered again`);
      await sleep(100);
    }
  });
  await restarting;
  await answering;
  const at = await Promise.all(healed);
  const after = Object.fromEntries(at.map(([name, t]) => [name, t - answeredAt!]));
  const shown = Object.entries(after).map(([name, ms]) => `${name} ${Number.isFinite(ms) ? `${ms} ms` : `not ready ${HEAL_BAR_MS + 5_000} ms later`}`);
  console.log(`readiness after ${what} answered again: ${shown.join(', ')}`);
  return after;
}

describe('readiness heals after Kafka and Postgres restarts (private broker and Postgres)', () => {
  const infra = new PrivateInfra('readiness', 1);
  let p: Platform;
  let key: string;
  let apps: Record<string, string>;
  let brokerPort: number;

  const kafkaAnswers = async () => {
    // A new client each time: this is the test's view of the broker, not the apps'.
    const admin = new KafkaJS.Kafka({ 'bootstrap.servers': infra.brokers, kafkaJS: { logLevel: KafkaJS.logLevel.NOTHING } } as any).admin();
    try {
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [p.topic], timeout: 1000 } as any);
      return true;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  };
  const postgresAnswers = async () => {
    const c = new Client({ connectionString: infra.databaseUrl, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  const ingest = (id: string) =>
    fetch(`${p.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, type: 'a' }),
      // The produce timeout is 4 s: a 503 comes well before this; a hang fails here.
      signal: AbortSignal.timeout(15_000),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  const expectAllLive = async () => {
    for (const url of Object.values(apps)) expect((await probe(`${url}/health/live`)).status).toBe(200);
  };
  const waitAllNotReady = async () => {
    for (const [name, url] of Object.entries(apps)) {
      await waitFor(`${name} not ready`, async () => (await probe(`${url}/health/ready`)).status === 503, 30_000, 200);
    }
  };

  beforeAll(async () => {
    await infra.start();
    brokerPort = Number(infra.brokers.split(':')[1]);
    p = new Platform('readiness', 3, { KAFKA_BROKERS: infra.brokers, DATABASE_URL: infra.databaseUrl, TRIBUTARY_REPLICATION_FACTOR: '1' });
    await p.start();
    apps = { gateway: p.url, processor: p.processorUrls[0] };
    await waitFor('processor ready', async () => (await probe(`${apps.processor}/health/ready`)).status === 200, 120_000, 250);
    key = await p.tenant('acme');
  }, 300_000);
  afterAll(async () => {
    try {
      infra.thawBroker(1);
    } catch {
      /* not frozen, or never started */
    }
    await p?.stop();
    await infra.stop();
  }, 120_000);

  it('answers every probe within the probe timeout while the broker is frozen, opens no connection per probe, and is ready again after', async () => {
    const gatewayPid = p.pids().gateway[0];
    const before = connectionsTo(gatewayPid, brokerPort);
    infra.freezeBroker(1);
    try {
      // Eight rounds of twenty concurrent probes: each answers (503) within the probe timeout.
      for (let round = 0; round < 8; round++) {
        const answers = await Promise.all(Array.from({ length: 20 }, () => probe(`${p.url}/health/ready`)));
        expect(answers.map((a) => a.status)).toEqual(Array(20).fill(503));
        expect(report(answers[0].body).error?.kafka?.status).toBe('down');
      }
      // One shared check at a time: the probes did not leave a connection each behind.
      expect(connectionsTo(gatewayPid, brokerPort)).toBeLessThanOrEqual(before + 2);
      await expectAllLive();
    } finally {
      infra.thawBroker(1);
    }
    const healed = await measureHealing('the thawed broker', async () => undefined, kafkaAnswers, { gateway: p.url });
    expect(healed.gateway).toBeLessThanOrEqual(HEAL_BAR_MS);
  });

  it('after kill -9 of the broker: 503 ready and ingest, 200 live; after its restart ready 200 within 10 s and ingest 202', async () => {
    for (const url of Object.values(apps)) expect((await probe(`${url}/health/ready`)).status).toBe(200);
    expect((await ingest('before-kill')).status).toBe(202);

    infra.killBroker(1);
    await waitAllNotReady();
    await expectAllLive();
    const during = await ingest('during-kill');
    expect(during.status).toBe(503);
    expect(during.body.code).toBe('broker_unavailable');

    // Same port and data directory: infra.sh starts the killed broker again.
    const healed = await measureHealing('the restarted broker', () => infra.heal(), kafkaAnswers, apps);
    for (const ms of Object.values(healed)) expect(ms).toBeLessThanOrEqual(HEAL_BAR_MS);
    await expectAllLive();

    await waitFor('ingest accepted again', async () => (await ingest('after-kill')).status === 202, 30_000, 500);
    for (const id of ['before-kill', 'after-kill']) {
      await waitFor(`${id} processed`, async () => (await p.request('GET', `/v1/events/${id}`, { key })).status === 200, 60_000, 250);
    }
  });

  it('after an immediate stop of Postgres: 503 ready, 200 live; after its start ready 200 within 10 s, the batch that was retrying applied', async () => {
    for (const url of Object.values(apps)) expect((await probe(`${url}/health/ready`)).status).toBe(200);
    const producer = new EventProducer({ brokers: infra.brokers, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 3, replicationFactor: 1, clientId: 'readiness-test' }, 10_000);
    await producer.connect();
    try {
      await infra.stopPostgres();
      await waitAllNotReady();
      await expectAllLive();
      // An event reaches the processor while Postgres is down: its batch fails and is retried.
      const now = new Date().toISOString();
      const event: EventEnvelope = {
        specversion: '1.0', id: 'during-pg-stop', tenant: 'acme', type: 'a', source: '/readiness-test', subject: null,
        time: now, receivedAt: now, datacontenttype: null, data: {}, partitionkey: null, extensions: {},
      };
      await producer.publish([event]);
      await waitFor('the processor retrying the batch', async () => {
        const r = await probe(`${apps.processor}/health/ready`);
        return r.status === 503 && report(r.body).error?.consumer_loop?.retrying?.length > 0;
      }, 30_000, 200);

      const healed = await measureHealing('the restarted Postgres', () => infra.heal(), postgresAnswers, apps);
      for (const ms of Object.values(healed)) expect(ms).toBeLessThanOrEqual(HEAL_BAR_MS);
      await expectAllLive();
      await waitFor('the retried event stored', async () => (await p.request('GET', '/v1/events/during-pg-stop', { key })).status === 200, 30_000, 250);
    } finally {
      await producer.disconnect();
    }
  });
});
