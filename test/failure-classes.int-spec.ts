import { createKafka } from '../libs/kafka/src/kafka-client';
import { Platform, waitFor } from './harness/platform';

/**
 * The processor's two failure classes. Permanent (Postgres refuses this event's data): the batch
 * is bisected down to the event, which is dead-lettered with its stream parked; the rest goes on.
 * Transient (here: Postgres answering "the database system is starting up", SQLSTATE 57P03, as
 * during a restart — not the events' fault): the partition pauses and retries, readiness says so
 * at once, nothing is dead-lettered or skipped.
 */
describe('failure classes', () => {
  const p = new Platform('failures', 1);
  let key: string;

  beforeAll(async () => {
    await p.start({ processors: 1 });
    key = await p.tenant('acme', ['ingest', 'read', 'admin']);
  });
  afterAll(() => p.stop());

  const get = async (id: string) => (await p.request('GET', `/v1/events/${id}`, { key })).body;
  const stream = async (s: string) => (await p.request('GET', `/v1/streams/${s}`, { key })).body.events.map((e: { id: string; sequence: number }) => `${e.id}#${e.sequence}`);
  const ready = async () => (await fetch(`${p.processorUrls[0]}/health/ready`)).json() as Promise<any>;
  const metric = async (name: string) => {
    const text = await (await fetch(`${p.processorUrls[0]}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  };

  it('bisects a batch Postgres refuses down to the one event, dead-letters it, parks its stream, and goes on', async () => {
    // Another producer writes an event whose data Postgres cannot store (1e1000000 is valid JSON,
    // beyond jsonb's numeric range), in the middle of 400 good ones on the same partition.
    const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 1, replicationFactor: 0, clientId: 'test' });
    const producer = kafka.producer();
    await producer.connect();
    const now = new Date().toISOString();
    const envelope = (id: string, subject: string, data = JSON.stringify({ id })) =>
      ({ key: 'acme', value: `{"specversion":"1.0","id":"${id}","tenant":"acme","type":"tick","source":"/elsewhere","subject":"${subject}","time":"${now}","receivedAt":"${now}","data":${data}}` });
    const messages = [
      ...Array.from({ length: 200 }, (_, i) => envelope(`a-${i}`, `s-${i % 10}`)),
      envelope('bad', 's-3', '{"n":1e1000000}'),
      ...Array.from({ length: 200 }, (_, i) => envelope(`b-${i}`, `s-${i % 10}`)),
    ];
    await producer.send({ topic: p.topic, messages });
    await producer.disconnect();

    await waitFor('the 380 events of other streams processed', async () => {
      const r = await p.db.query(`SELECT count(*)::int AS n FROM events WHERE status = 'processed'`);
      return r.rows[0].n === 380;
    }, 60000, 250);
    const dl = await p.db.query(`SELECT event_id, subject, stage, error FROM dead_letters`);
    expect(dl.rows).toEqual([{ event_id: 'bad', subject: 's-3', stage: 'store', error: 'Postgres refused the event: value overflows numeric format' }]);
    // s-3: the 20 events before the poison applied, the 20 after it parked (not overtaking it).
    expect(await stream('s-3')).toEqual(Array.from({ length: 20 }, (_, i) => `a-${i * 10 + 3}#${i + 1}`));
    const parked = await p.db.query(`SELECT event_id FROM events WHERE status = 'parked' ORDER BY kafka_offset`);
    expect(parked.rows.map((r: { event_id: string }) => r.event_id)).toEqual(Array.from({ length: 20 }, (_, i) => `b-${i * 10 + 3}`));
    expect(await metric('tributary_batch_bisections_total')).toBeGreaterThan(0);
    expect(await metric('tributary_events_dead_lettered_total\\{stage="store"\\}')).toBe(1);
    expect((await p.db.query(`SELECT next_offset::int AS n FROM consumer_checkpoints`)).rows).toEqual([{ n: 401 }]);

    // A retry tries to store it again from the message text (exactly as sent: the number's digits
    // kept); Postgres still refuses, so it stays open. A discard releases its stream in order.
    const id = (await p.db.query(`SELECT id FROM dead_letters`)).rows[0].id;
    const retry = await p.request('POST', `/v1/dead-letters/${id}/retry`, { key });
    expect(retry).toMatchObject({ status: 202, body: { outcome: 'still_failing', attempts: 2, error: 'Postgres refused the event: value overflows numeric format' } });
    expect((await p.request('GET', '/v1/events/bad', { key })).status).toBe(404);
    expect(await p.request('POST', `/v1/dead-letters/${id}/discard`, { key })).toMatchObject({ status: 202, body: { outcome: 'discarded', released: 20 } });
    expect(await stream('s-3')).toEqual([...Array.from({ length: 20 }, (_, i) => `a-${i * 10 + 3}`), ...Array.from({ length: 20 }, (_, i) => `b-${i * 10 + 3}`)].map((e, i) => `${e}#${i + 1}`));
  });

  it('holds every producer to the business rules in code: 422 at the gateway, a dead letter (stage rule) in the processor', async () => {
    const refused = await p.request('POST', '/v1/events', { key, body: { type: 'purchase', subject: 'cart', data: { amount: 0 } } });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([{ path: '/data/amount', message: 'a purchase needs a number amount > 0' }]);

    const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 1, replicationFactor: 0, clientId: 'test' });
    const producer = kafka.producer();
    await producer.connect();
    const now = new Date().toISOString();
    const purchase = (id: string, amount: number) =>
      ({ key: 'acme', value: JSON.stringify({ specversion: '1.0', id, tenant: 'acme', type: 'purchase', source: '/elsewhere', subject: 'cart', time: now, receivedAt: now, data: { amount } }) });
    await producer.send({ topic: p.topic, messages: [purchase('cart-1', 5), purchase('cart-2', -3), purchase('cart-3', 4)] });
    await producer.disconnect();
    await waitFor('cart-3 parked behind cart-2', async () => (await get('cart-3')).status === 'parked', 30000);
    expect(await get('cart-2')).toMatchObject({ status: 'dead_lettered' });
    const dl = await p.db.query(`SELECT stage, error FROM dead_letters WHERE event_id = 'cart-2'`);
    expect(dl.rows).toEqual([{ stage: 'rule', error: '/data/amount a purchase needs a number amount > 0' }]);
    expect(await stream('cart')).toEqual(['cart-1#1']);
  });

  it('pauses the partition on a transient failure, reports it in readiness at once, and resumes with nothing lost or dead-lettered', async () => {
    expect((await ready()).status).toBe('ok');
    const before = await metric('tributary_batch_failures_total');
    // A trigger makes every write to the counts projection fail as a restarting server does.
    await p.db.query(`CREATE FUNCTION starting_up() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN RAISE EXCEPTION 'the database system is starting up' USING ERRCODE = '57P03'; END $$`);
    await p.db.query(`CREATE TRIGGER starting_up BEFORE INSERT OR UPDATE ON event_counts FOR EACH ROW EXECUTE FUNCTION starting_up()`);
    try {
      const r = await p.request('POST', '/v1/events', { key, body: Array.from({ length: 50 }, (_, i) => ({ id: `t-${i}`, type: 'tick', subject: `t-${i % 5}` })) });
      expect(r.status).toBe(202);
      const degraded = await waitFor('readiness reports the paused partition', async () => {
        const res = await fetch(`${p.processorUrls[0]}/health/ready`);
        return res.status === 503 ? ((await res.json()) as any) : undefined;
      }, 30000, 100);
      expect(degraded.error.consumer_loop).toMatchObject({ status: 'down', retrying: [{ partition: 0, error: 'the database system is starting up' }] });
      expect(await metric('tributary_batch_failures_total')).toBeGreaterThan(before);
      expect((await p.request('GET', '/v1/events/t-0', { key })).status).toBe(404); // not applied, not skipped
    } finally {
      await p.db.query(`DROP TRIGGER starting_up ON event_counts`);
    }
    await waitFor('the 50 events applied after the fix', async () => (await get('t-49')).status === 'processed', 30000);
    expect(await stream('t-4')).toEqual(Array.from({ length: 10 }, (_, i) => `t-${i * 5 + 4}#${i + 1}`));
    expect((await p.db.query(`SELECT count(*)::int AS n FROM dead_letters WHERE event_id LIKE 't-%'`)).rows[0].n).toBe(0);
    await waitFor('ready again', async () => (await ready()).status === 'ok', 10000);
  });

  it('takes the same refusal for several tenants in a row as a deploy fault: pauses instead of dead-lettering everything, and the refused ones can be retried after the fix', async () => {
    const beta = await p.tenant('beta', ['ingest', 'read', 'admin']);
    // A bad migration: every insert into the event store now fails as a too-narrow column would.
    await p.db.query(`CREATE FUNCTION narrow() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN RAISE EXCEPTION 'value too long for type character varying(8)' USING ERRCODE = '22001'; END $$`);
    await p.db.query(`CREATE TRIGGER narrow BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION narrow()`);
    const ids: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        for (const [tenant, k] of [['acme', key], ['beta', beta]] as const) {
          const id = `df-${tenant}-${i}`;
          ids.push(id);
          expect((await p.request('POST', '/v1/events', { key: k, body: { id, type: 'tick', subject: id } })).status).toBe(202);
        }
      }
      const degraded = await waitFor('readiness reports the paused partition', async () => {
        const res = await fetch(`${p.processorUrls[0]}/health/ready`);
        return res.status === 503 ? ((await res.json()) as any) : undefined;
      }, 30000, 100);
      expect(degraded.error.consumer_loop.retrying[0].error).toMatch(/SQLSTATE 22001, from 2 tenants: treated as a deploy fault/);
    } finally {
      await p.db.query(`DROP TRIGGER narrow ON events`);
    }
    // Only the refusals before the pattern was clear became dead letters; the rest was never skipped.
    const dl = await p.db.query(`SELECT id, event_id, tenant_id, stage FROM dead_letters WHERE event_id LIKE 'df-%' ORDER BY id`);
    expect(dl.rows.map((r: any) => [r.event_id, r.stage])).toEqual([['df-acme-0', 'store'], ['df-beta-0', 'store']]);
    await waitFor('the other 18 events applied after the fix', async () => (await p.db.query(`SELECT count(*)::int AS n FROM events WHERE event_id LIKE 'df-%' AND status = 'processed'`)).rows[0].n === 18, 60000, 250);
    for (const [r, k] of [[dl.rows[0], key], [dl.rows[1], beta]] as const) {
      expect(await p.request('POST', `/v1/dead-letters/${r.id}/retry`, { key: k })).toMatchObject({ status: 202, body: { outcome: 'resolved' } });
    }
    const all = await p.db.query(`SELECT event_id, status, sequence FROM events WHERE event_id LIKE 'df-%' ORDER BY event_id`);
    expect(all.rows).toEqual([...ids].sort().map((id) => ({ event_id: id, status: 'processed', sequence: '1' })));
    await waitFor('ready again', async () => (await ready()).status === 'ok', 10000);
  });
});
