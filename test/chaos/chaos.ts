import type { EventEnvelope } from '../../libs/contracts/src/envelope';
import { EventProducer } from '../../libs/kafka/src/event-producer';
import { createKafka } from '../../libs/kafka/src/kafka-client';
import { Platform, waitFor } from '../harness/platform';
import { PrivateInfra } from '../harness/private-infra';
import { seededRandom } from './random';

/**
 * The chaos run behind `npm run chaos` and its short version in `npm test`: three Kafka brokers
 * (RF 3, min ISR 2), several processors and the gateway, all owned by the run, while events are
 * sent with client retries and poison events, and processes are killed. Then the event store is
 * checked against what the clients were told (202) — see docs/guarantees.md.
 */
export interface ChaosOptions {
  label: string;
  /** Distinct events sent through the gateway (client-retry copies and poison events come on top). */
  events: number;
  processors: number;
  tenants: number;
  subjectsPerTenant: number;
  /** Subjects that get one poison event half-way through their stream. */
  poisonSubjects: number;
  /** Share of accepted batches sent a second time, as a client that did not see the 202 would. */
  retryShare: number;
  /** A processor is killed with SIGKILL this often (and started again). */
  killEveryMs: number;
  concurrency: number;
  batchSize: number;
  /** Seeds every random choice of the run (printed at its start and in its result line). */
  seed: number;
  /** Longest a client keeps retrying one batch (or the poison producer one event) before the run fails. */
  retryForMs?: number;
  log: (line: string) => void;
}

export interface ChaosResult {
  seed: number;
  accepted: number;
  /** Rows in the event store that no client was answered 202 for (nor a poison event): must be 0. */
  unexpected: number;
  stored: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  countsMismatch: number;
  poison: { sent: number; deadLettered: number; streamsParkedBehind: number };
  clientRetries: number;
  /** Failed answers the clients got, by HTTP status (0: no answer, e.g. the gateway restarting). */
  errorsByStatus: Record<string, number>;
  faults: string[];
  faultErrors: string[];
  seconds: number;
  ok: boolean;
  line: string;
}

interface Planned {
  tenant: string;
  subject: string;
  /** Position in its subject's stream, in send order. */
  k: number;
  id: string;
  poison: boolean;
  body: { id: string; type: string; subject: string; partitionkey: string; data: Record<string, unknown> };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PURCHASE_SCHEMA = { type: 'object', required: ['amount'], properties: { amount: { type: 'number', exclusiveMinimum: 0 } } };
const TYPES = ['order.created', 'purchase', 'order.shipped'];

/** Every subject's events in order; the poison one (a purchase with amount -1) half-way. */
function plan(o: ChaosOptions): Planned[][] {
  const subjects: { tenant: string; subject: string }[] = [];
  for (let s = 0; s < o.subjectsPerTenant; s++) for (let t = 0; t < o.tenants; t++) subjects.push({ tenant: `t${t}`, subject: `s${s}` });
  const perSubject = Math.max(2, Math.ceil(o.events / subjects.length)); // at least `events` in all
  return subjects.map(({ tenant, subject }, si) => {
    const poisonAt = si < o.poisonSubjects ? Math.floor(perSubject / 2) : -1;
    const out: Planned[] = [];
    for (let k = 0; k < perSubject + (poisonAt >= 0 ? 1 : 0); k++) {
      const poison = k === poisonAt;
      const id = poison ? `${subject}-poison` : `${subject}-${k}`;
      const type = poison ? 'purchase' : TYPES[k % TYPES.length];
      const data = type === 'purchase' ? { k, amount: poison ? -1 : k + 1 } : { k };
      out.push({ tenant, subject, k, id, poison, body: { id, type, subject, partitionkey: subject, data } });
    }
    return out;
  });
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const random = seededRandom(o.seed);
  const retryForMs = o.retryForMs ?? 5 * 60_000;
  o.log(`seed=${o.seed} (repeat the random choices with --seed ${o.seed})`);
  const faults: string[] = [];
  const faultErrors: string[] = [];
  const errorsByStatus: Record<string, number> = {};
  const fault = (what: string) => {
    faults.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${what}`);
    o.log(what);
  };
  const infra = await new PrivateInfra(o.label, 3).start();
  o.log(`private cluster: brokers ${infra.brokers}, postgres ${infra.databaseUrl}`);
  const p = new Platform(o.label, 12, {
    KAFKA_BROKERS: infra.brokers,
    DATABASE_URL: infra.databaseUrl,
    TRIBUTARY_REPLICATION_FACTOR: '3',
    TRIBUTARY_SESSION_TIMEOUT_MS: '6000',
    TRIBUTARY_TENANT_RATE: '1000000',
    TRIBUTARY_TENANT_BURST: '1000000',
    OTEL_SDK_DISABLED: 'true',
  });
  const kafkaCfg = { brokers: infra.brokers, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 12, replicationFactor: 3, clientId: 'chaos' };
  const poisonProducer = new EventProducer(kafkaCfg, 30000);
  let loadDone = false;
  try {
    await p.start({ processors: o.processors });
    const keys = new Map<string, string>();
    for (let t = 0; t < o.tenants; t++) {
      const key = await p.tenant(`t${t}`, ['ingest', 'read', 'admin']);
      keys.set(`t${t}`, key);
      const r = await p.request('PUT', '/v1/schemas/purchase', { key, body: PURCHASE_SCHEMA });
      if (r.status !== 200) throw new Error(`schema: ${r.status} ${JSON.stringify(r.body)}`);
    }
    await sleep(2100); // the processors' schema cache
    await poisonProducer.connect();

    const streams = plan(o);
    const total = streams.reduce((n, s) => n + s.filter((e) => !e.poison).length, 0);
    const accepted = new Set<string>(); // tenant/id told 202
    const poisonSent: Planned[] = [];
    let clientRetries = 0;
    let resent = 0;

    /** POSTs one batch until it gets 202, as a client does: same ids on every attempt; gives up after retryForMs. */
    const send = async (tenant: string, batch: Planned[]) => {
      const giveUpAt = Date.now() + retryForMs;
      for (let attempt = 1; ; attempt++) {
        let status = 0;
        let detail = '';
        try {
          const r = await p.request('POST', '/v1/events', { key: keys.get(tenant), body: batch.map((e) => e.body) });
          status = r.status;
          detail = JSON.stringify(r.body).slice(0, 300);
        } catch (e) {
          detail = (e as Error).message; // the gateway is restarting: connection refused/reset
        }
        if (status === 202) return;
        if (status >= 400 && status < 500 && status !== 429) throw new Error(`the gateway refused a valid batch: ${status} ${detail}`);
        clientRetries++;
        errorsByStatus[status] = (errorsByStatus[status] ?? 0) + 1;
        if (attempt % 20 === 0) o.log(`batch still failing after ${attempt} attempts: ${status} ${detail}`);
        if (Date.now() > giveUpAt) throw new Error(`a batch got no 202 for ${retryForMs} ms (${attempt} attempts), last: ${status} ${detail}`);
        await sleep(100 + random() * 400);
      }
    };

    // Each worker owns whole subjects of one tenant, so a subject's events go out in order.
    const byWorker: Planned[][][] = Array.from({ length: o.concurrency }, () => []);
    streams.forEach((s, i) => byWorker[i % o.concurrency].push(s));
    const worker = async (mine: Planned[][]) => {
      const byTenant = new Map<string, Planned[][]>();
      for (const s of mine) byTenant.set(s[0].tenant, [...(byTenant.get(s[0].tenant) ?? []), s]);
      for (const [tenant, ss] of byTenant) {
        // Interleave the tenant's subjects (round-robin), keeping each subject's order.
        const queue: Planned[] = [];
        for (let k = 0; ss.some((s) => k < s.length); k++) for (const s of ss) if (k < s.length) queue.push(s[k]);
        let batch: Planned[] = [];
        const flush = async () => {
          if (batch.length === 0) return;
          await send(tenant, batch);
          for (const e of batch) accepted.add(`${tenant}/${e.id}`);
          if (random() < o.retryShare) {
            await send(tenant, batch); // the client retry: every id again
            resent += batch.length;
          }
          batch = [];
        };
        for (const e of queue) {
          if (e.poison) {
            // Poison comes from another producer (the gateway would refuse it): straight to Kafka,
            // on the partition of its subject, after the events before it were acknowledged.
            await flush();
            const now = new Date().toISOString();
            const envelope: EventEnvelope = { specversion: '1.0', id: e.id, tenant, type: e.body.type, source: '/chaos', subject: e.subject, time: now, receivedAt: now, datacontenttype: 'application/json', data: e.body.data, partitionkey: e.subject, extensions: {} };
            for (const giveUpAt = Date.now() + retryForMs; ; ) {
              try {
                await poisonProducer.publish([envelope]);
                break;
              } catch (err) {
                if (Date.now() > giveUpAt) throw new Error(`the poison event ${e.id} could not be produced for ${retryForMs} ms: ${(err as Error).message}`);
                await sleep(500);
              }
            }
            poisonSent.push(e);
            continue;
          }
          batch.push(e);
          if (batch.length >= o.batchSize) await flush();
        }
        await flush();
      }
    };

    // Faults, by progress: a processor at 10 % then every killEveryMs; a broker killed at 20 % and
    // restarted at 35 %; Postgres crashed and restarted at 50 %; the gateway restarted at 70 %.
    // Each fault runs on its own, so a slow restart does not hold back the next one.
    const progress = () => accepted.size / total;
    const running: Promise<void>[] = [];
    let brokerKilled: Promise<void> = Promise.resolve();
    const steps: [number, string, () => Promise<void>][] = [
      [0.2, 'kill -9 kafka broker 2', async () => { brokerKilled = Promise.resolve(infra.killBroker(2)); }],
      [0.35, 'restart kafka broker 2', async () => { await brokerKilled; await infra.heal(); }],
      [0.5, 'postgres: immediate stop (crash), restart', () => infra.restartPostgres()],
      [0.7, 'restart the gateway (SIGTERM, start)', () => p.restartGateway()],
    ];
    const chaos = (async () => {
      let nextKill = 0;
      let kills = 0;
      while (!loadDone) {
        while (steps.length && progress() >= steps[0][0]) {
          const [, what, act] = steps.shift()!;
          fault(what);
          running.push(act().catch((e) => { faultErrors.push(`${what}: ${(e as Error).message}`); }));
        }
        const due = kills === 0 ? progress() >= 0.1 : Date.now() >= nextKill;
        if (due) {
          const i = Math.floor(random() * o.processors);
          fault(`kill -9 processor ${i}`);
          // Throws when the processor is not running (it died by itself): a fault error, not a kill.
          await p.killProcessor(i).catch((e) => { faultErrors.push(`kill -9 processor ${i}: ${(e as Error).message}`); });
          await sleep(500);
          await p.startProcessor(i);
          kills++;
          nextKill = Date.now() + o.killEveryMs;
        }
        await sleep(100);
      }
      for (const [, what, act] of steps) {
        fault(`${what} (after the load)`);
        running.push(act().catch((e) => { faultErrors.push(`${what}: ${(e as Error).message}`); }));
      }
      await Promise.all(running);
    })();
    const reporter = setInterval(() => o.log(`accepted ${accepted.size}/${total}`), 5000);
    try {
      await Promise.all(byWorker.map(worker));
    } finally {
      loadDone = true;
      clearInterval(reporter);
      await chaos;
    }
    o.log(`load done: ${accepted.size} accepted, ${resent} sent twice, ${clientRetries} client retries after errors; draining`);

    // Drain: every partition's Postgres checkpoint reaches the end of the log.
    const admin = createKafka(kafkaCfg).admin();
    await admin.connect();
    try {
      await waitFor('the processors to reach the end of every partition', async () => {
        const ends = await admin.fetchTopicOffsets(p.topic);
        const cps = await p.db.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset FROM consumer_checkpoints WHERE topic = $1`, [p.topic]);
        const at = new Map(cps.rows.map((r) => [r.partition, BigInt(r.next_offset)]));
        return ends.every((e: { partition: number; high: string }) => BigInt(e.high) === 0n || at.get(e.partition) === BigInt(e.high));
      }, 300000, 500);
    } finally {
      await admin.disconnect();
    }

    // Checks, from the event store.
    const rows = (await p.db.query<{ tenant_id: string; event_id: string; subject: string; sequence: string | null; status: string; k: number }>(
      `SELECT tenant_id, event_id, subject, sequence, status, (data->>'k')::int AS k FROM events`,
    )).rows;
    const seen = new Map<string, number>();
    for (const r of rows) seen.set(`${r.tenant_id}/${r.event_id}`, (seen.get(`${r.tenant_id}/${r.event_id}`) ?? 0) + 1);
    const lost = [...accepted].filter((id) => !seen.has(id)).length;
    const poisonIds = new Set(poisonSent.map((e) => `${e.tenant}/${e.id}`));
    const unexpected = [...seen.keys()].filter((id) => !accepted.has(id) && !poisonIds.has(id)).length;
    const duplicateRows = [...seen.values()].reduce((n, c) => n + c - 1, 0);
    const stored = [...accepted].filter((id) => seen.has(id)).length;

    // Per stream: applied events carry 1..n in send order; with a poison head, everything after it parked.
    const bySubject = new Map<string, typeof rows>();
    for (const r of rows) bySubject.set(`${r.tenant_id}/${r.subject}`, [...(bySubject.get(`${r.tenant_id}/${r.subject}`) ?? []), r]);
    const poisonOf = new Map(poisonSent.map((e) => [`${e.tenant}/${e.subject}`, e]));
    let outOfOrder = 0;
    let streamsParkedBehind = 0;
    for (const [subject, rs] of bySubject) {
      const poison = poisonOf.get(subject);
      const applied = rs.filter((r) => r.status === 'processed').sort((a, b) => Number(a.sequence) - Number(b.sequence));
      const gapless = applied.every((r, i) => Number(r.sequence) === i + 1 && (i === 0 || r.k > applied[i - 1].k));
      const inSendOrder = applied.every((r, i) => r.k === i);
      let parkedRight = true;
      if (poison) {
        const after = rs.filter((r) => !r.event_id.endsWith('-poison') && r.k >= poison.k);
        const plannedAfter = streams.find((st) => st[0].tenant === poison.tenant && st[0].subject === poison.subject)!.filter((e) => !e.poison && e.k >= poison.k).length;
        parkedRight = after.length === plannedAfter && after.every((r) => r.status === 'parked') && applied.length === poison.k && rs.find((r) => r.event_id === poison.id)?.status === 'dead_lettered';
        if (parkedRight) streamsParkedBehind++;
      } else {
        parkedRight = rs.every((r) => r.status === 'processed');
      }
      if (!gapless || !inSendOrder || !parkedRight) {
        outOfOrder++;
        if (outOfOrder <= 5) o.log(`stream ${subject} broken: gapless=${gapless} inSendOrder=${inSendOrder} poisonHandled=${parkedRight}`);
      }
    }
    // Each poison event sent: exactly one open dead letter of its own (tenant and id), for its schema or rule.
    const letters = (await p.db.query<{ tenant_id: string; event_id: string; n: number }>(
      `SELECT tenant_id, event_id, count(*)::int AS n FROM dead_letters WHERE stage IN ('schema', 'rule') AND status = 'open' GROUP BY 1, 2`,
    )).rows;
    const deadLettered = poisonSent.filter((e) => letters.find((l) => l.tenant_id === e.tenant && l.event_id === e.id)?.n === 1).length;
    const strayLetters = letters.filter((l) => !poisonIds.has(`${l.tenant_id}/${l.event_id}`)).length;

    // The counts projection against a recount of the applied events.
    const mismatch = await p.db.query<{ over: number; under: number; n: number }>(`
      WITH recount AS (SELECT tenant_id, type, date_trunc('minute', time) AS bucket, count(*) AS c FROM events WHERE status = 'processed' GROUP BY 1, 2, 3)
      SELECT count(*)::int AS n, coalesce(sum(greatest(coalesce(p.count, 0) - coalesce(r.c, 0), 0)), 0)::int AS over,
             coalesce(sum(greatest(coalesce(r.c, 0) - coalesce(p.count, 0), 0)), 0)::int AS under
        FROM event_counts p FULL JOIN recount r USING (tenant_id, type, bucket)
       WHERE coalesce(p.count, 0) <> coalesce(r.c, 0)`);
    const countsMismatch = mismatch.rows[0].n;

    const duplicated = duplicateRows + mismatch.rows[0].over;
    const result = {
      seed: o.seed,
      accepted: accepted.size,
      unexpected: unexpected + strayLetters,
      stored,
      lost: lost + mismatch.rows[0].under,
      duplicated,
      outOfOrder,
      countsMismatch,
      poison: { sent: poisonSent.length, deadLettered, streamsParkedBehind },
      clientRetries: clientRetries + resent,
      errorsByStatus,
      faults,
      faultErrors,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    const ok = result.lost === 0 && result.unexpected === 0 && duplicated === 0 && outOfOrder === 0 && countsMismatch === 0 && stored === accepted.size
      && !errorsByStatus['500'] && faultErrors.length === 0
      && deadLettered === poisonSent.length && streamsParkedBehind === poisonSent.length && poisonSent.length === o.poisonSubjects;
    const line = `seed=${o.seed} accepted=${result.accepted} stored=${result.stored} unexpected=${result.unexpected} lost=${result.lost} duplicated=${result.duplicated} out_of_order=${result.outOfOrder}`
      + ` counts_mismatch=${countsMismatch} poison_dead_lettered=${deadLettered}/${poisonSent.length} parked_behind=${streamsParkedBehind}/${poisonSent.length} sent_twice=${resent} retried_after_error=${clientRetries}`
      + ` errors_by_status=${JSON.stringify(errorsByStatus)}${faultErrors.length ? ` fault_errors=${JSON.stringify(faultErrors)}` : ''}`;
    return { ...result, ok, line };
  } finally {
    loadDone = true;
    await poisonProducer.disconnect().catch(() => undefined);
    await p.stop().catch((e) => o.log(`stopping the apps: ${(e as Error).message}`));
    await infra.stop();
  }
}
