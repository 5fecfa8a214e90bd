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
    // Another producer writes an event whose time Postgres cannot store (year -100000 is a valid
    // JavaScript date), in the middle of 400 good ones on the same partition.
    const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 1, replicationFactor: 0, clientId: 'test' });
    const producer = kafka.producer();
    await producer.connect();
    const now = new Date().toISOString();
    const envelope = (id: string, subject: string, time = now) =>
      ({ key: 'acme', value: JSON.stringify({ specversion: '1.0', id, tenant: 'acme', type: 'tick', source: '/elsewhere', subject, time, receivedAt: now, data: { id } }) });
    const messages = [
      ...Array.from({ length: 200 }, (_, i) => envelope(`a-${i}`, `s-${i % 10}`)),
      envelope('bad', 's-3', '-100000-01-01T00:00:00.000Z'),
      ...Array.from({ length: 200 }, (_, i) => envelope(`b-${i}`, `s-${i % 10}`)),
    ];
    await producer.send({ topic: p.topic, messages });
    await producer.disconnect();

    await waitFor('the 380 events of other streams processed', async () => {
      const r = await p.db.query(`SELECT count(*)::int AS n FROM events WHERE status = 'processed'`);
      return r.rows[0].n === 380;
    }, 60000, 250);
    const dl = await p.db.query(`SELECT event_id, subject, stage, error FROM dead_letters`);
    expect(dl.rows).toEqual([{ event_id: 'bad', subject: 's-3', stage: 'store', error: expect.stringMatching(/^Postgres refused the event: .*out of range/) }]);
    // s-3: the 20 events before the poison applied, the 20 after it parked (not overtaking it).
    expect(await stream('s-3')).toEqual(Array.from({ length: 20 }, (_, i) => `a-${i * 10 + 3}#${i + 1}`));
    const parked = await p.db.query(`SELECT event_id FROM events WHERE status = 'parked' ORDER BY kafka_offset`);
    expect(parked.rows.map((r: { event_id: string }) => r.event_id)).toEqual(Array.from({ length: 20 }, (_, i) => `b-${i * 10 + 3}`));
    expect(await metric('tributary_batch_bisections_total')).toBeGreaterThan(0);
    expect(await metric('tributary_events_dead_lettered_total\\{stage="store"\\}')).toBe(1);
    expect((await p.db.query(`SELECT next_offset::int AS n FROM consumer_checkpoints`)).rows).toEqual([{ n: 401 }]);

    // It cannot be retried (the store refuses it); a discard releases its stream in order.
    const id = (await p.db.query(`SELECT id FROM dead_letters`)).rows[0].id;
    const retry = await p.request('POST', `/v1/dead-letters/${id}/retry`, { key });
    expect(retry.status).toBe(409);
    expect(retry.body.detail).toContain('can only be discarded');
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
});
