import { createKafka } from '../libs/kafka/src/kafka-client';
import { Platform, waitFor } from './harness/platform';

/**
 * A poison event must not block its partition nor let its stream's order break: later events of
 * its stream park behind it and are released in order by a retry (after the rule is fixed) or a
 * discard. Poison here: data that breaks the tenant's JSON Schema registered after it was accepted.
 */
describe('ordered dead-lettering', () => {
  const p = new Platform('deadletters', 3);
  let key: string;
  const strict = { type: 'object', required: ['amount'], properties: { amount: { type: 'number', exclusiveMinimum: 0 } } };

  beforeAll(async () => {
    await p.start({ processors: 0 });
    key = await p.tenant('shop', ['ingest', 'read', 'admin']);
  });
  afterAll(() => p.stop());

  const post = async (body: unknown) => {
    const r = await p.request('POST', '/v1/events', { key, body });
    expect(r.status).toBe(202);
  };
  const get = async (id: string) => (await p.request('GET', `/v1/events/${id}`, { key })).body;
  const stream = async (s: string) => (await p.request('GET', `/v1/streams/${s}`, { key })).body.events.map((e: { id: string; sequence: number }) => `${e.id}#${e.sequence}`);
  const putSchema = (schema: object) => p.request('PUT', '/v1/schemas/payment', { key, body: schema });

  it('dead-letters the poison event, processes the 10,000 after it, parks its stream, and a retry releases it in order', async () => {
    // Accepted while no schema exists; no processor runs yet, so the events wait in Kafka.
    await post([
      { id: 'c1-1', type: 'payment', subject: 'cart-1', data: { amount: 5 } },
      { id: 'c1-2', type: 'payment', subject: 'cart-1', data: { amount: -1 } },
      { id: 'c1-3', type: 'payment', subject: 'cart-1', data: { amount: 7 } },
      { id: 'c1-4', type: 'note', subject: 'cart-1', data: { text: 'x' } },
      { id: 'c3-1', type: 'payment', subject: 'cart-3', data: { amount: 0 } },
      { id: 'c3-2', type: 'payment', subject: 'cart-3', data: { amount: 3 } },
    ]);
    for (let b = 0; b < 10; b++) {
      await post(Array.from({ length: 1000 }, (_, i) => ({ id: `other-${b}-${i}`, type: 'payment', subject: `other-${i % 50}`, data: { amount: 1 } })));
    }
    expect((await putSchema(strict)).body).toEqual({ type: 'payment', version: 1 });
    // The gateway enforces it from now on, with the field path.
    const refused = await p.request('POST', '/v1/events', { key, body: { type: 'payment', data: { amount: -5 } } });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([{ path: '/data/amount', message: 'must be > 0' }]);

    await new Promise((r) => setTimeout(r, 2100)); // the processors' schema cache
    await p.startProcessor();
    await waitFor('the 10,000 later events processed', async () => {
      const r = await p.db.query(`SELECT count(*)::int AS n FROM events WHERE event_id LIKE 'other-%' AND status = 'processed'`);
      return r.rows[0].n === 10000;
    }, 60000, 250);

    expect(await get('c1-1')).toMatchObject({ status: 'processed', sequence: 1 });
    expect(await get('c1-2')).toMatchObject({ status: 'dead_lettered', sequence: null });
    expect(await get('c1-3')).toMatchObject({ status: 'parked', sequence: null });
    expect(await get('c1-4')).toMatchObject({ status: 'parked', sequence: null });
    expect(await stream('cart-1')).toEqual(['c1-1#1']);

    const list = await p.request('GET', '/v1/dead-letters', { key });
    expect(list.body.items.map((d: { eventId: string }) => d.eventId)).toEqual(['c1-2', 'c3-1']);
    const dl = list.body.items[0];
    expect(dl).toMatchObject({ eventId: 'c1-2', stage: 'schema', attempts: 1, status: 'open', subject: 'cart-1' });
    expect(dl.error).toContain('/data/amount must be > 0');

    // Retrying before the rule changes fails again and keeps the stream parked.
    const again = await p.request('POST', `/v1/dead-letters/${dl.id}/retry`, { key });
    expect(again).toMatchObject({ status: 202, body: { outcome: 'still_failing', attempts: 2 } });
    expect(await get('c1-3')).toMatchObject({ status: 'parked' });

    // Fix the rule (refunds may be negative), retry: the head and its parked stream apply in order.
    expect((await putSchema({ type: 'object', required: ['amount'], properties: { amount: { type: 'number' } } })).body.version).toBe(2);
    await new Promise((r) => setTimeout(r, 2100));
    const fixed = await p.request('POST', `/v1/dead-letters/${dl.id}/retry`, { key });
    expect(fixed).toMatchObject({ status: 202, body: { outcome: 'resolved', released: 2 } });
    expect(await stream('cart-1')).toEqual(['c1-1#1', 'c1-2#2', 'c1-3#3', 'c1-4#4']);

    // Counts include the released events exactly once.
    const counts = (await p.request('GET', '/v1/stats/counts?bucket=day', { key })).body.series;
    const total = (type: string) => counts.filter((r: { type: string }) => r.type === type).reduce((a: number, r: { count: number }) => a + r.count, 0);
    expect(total('note')).toBe(1);
    // 10,000 others + c1-1, c1-2, c1-3 (c3-2 is still parked behind c3-1)
    expect(total('payment')).toBe(10003);

    // New events of a released stream apply right away.
    await post({ id: 'c1-5', type: 'note', subject: 'cart-1' });
    await waitFor('c1-5 processed', async () => (await get('c1-5')).status === 'processed');
    expect(await stream('cart-1')).toEqual(['c1-1#1', 'c1-2#2', 'c1-3#3', 'c1-4#4', 'c1-5#5']);
  });

  it('a discard gives up on the head and releases the events behind it in order', async () => {
    const dl = (await p.request('GET', '/v1/dead-letters', { key })).body.items.find((d: { eventId: string }) => d.eventId === 'c3-1');
    expect(dl).toBeDefined();
    // Still failing under the fixed schema? No: amount 0 is a number now; discard anyway, as an operator may.
    const r = await p.request('POST', `/v1/dead-letters/${dl.id}/discard`, { key });
    expect(r).toMatchObject({ status: 202, body: { outcome: 'discarded', released: 1 } });
    expect(await get('c3-1')).toMatchObject({ status: 'discarded', sequence: null });
    expect(await stream('cart-3')).toEqual(['c3-2#1']);
    expect((await p.request('GET', '/v1/dead-letters', { key })).body.items).toEqual([]);
    expect((await p.request('GET', '/v1/dead-letters?status=discarded', { key })).body.items.map((d: { eventId: string }) => d.eventId)).toEqual(['c3-1']);
  });

  it('refuses retries without the admin role and invalid schemas with a path', async () => {
    const reader = await p.key('shop', ['read']);
    expect((await p.request('POST', '/v1/dead-letters/1/retry', { key: reader })).status).toBe(403);
    const bad = await p.request('PUT', '/v1/schemas/payment', { key, body: { type: 'no-such-type' } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].path).toBe('/type');
    expect((await p.request('POST', '/v1/dead-letters/999999/retry', { key })).status).toBe(404);
  });

  it('the CLI lists, retries and discards dead letters with filters', async () => {
    // A new poison event: accepted before its schema exists, applied by a processor started after.
    expect(await p.terminateProcessor(0)).toBe(0);
    await post([
      { id: 'r-1', type: 'refund', subject: 'r', data: { amount: 5 } },
      { id: 'r-2', type: 'refund', subject: 'r', data: { amount: 'five' } },
      { id: 'r-3', type: 'note', subject: 'r' },
    ]);
    expect((await p.request('PUT', '/v1/schemas/refund', { key, body: { type: 'object', properties: { amount: { type: 'number' } } } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2100));
    await p.startProcessor(0);
    await waitFor('r-3 parked', async () => (await get('r-3')).status === 'parked', 30000);

    const list = await p.cli('dead-letters', 'list', '--tenant', 'shop', '--type', 'refund', '--json');
    expect(list.code).toBe(0);
    const [dl] = JSON.parse(list.out);
    expect(dl).toMatchObject({ eventId: 'r-2', stage: 'schema' });

    const retry = await p.cli('dead-letters', 'retry', '--tenant', 'shop', '--type', 'refund');
    expect(retry.out + retry.err).toContain('still_failing');
    expect(retry.code).toBe(4);
    expect(retry.out).toContain(`${dl.id}\tstill_failing`);

    const dry = await p.cli('dead-letters', 'discard', '--tenant', 'shop', dl.id, '--dry-run');
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.out).toContain(`would discard 1 dead letter(s): ${dl.id}`);
    expect(await get('r-3')).toMatchObject({ status: 'parked' });

    const discard = await p.cli('dead-letters', 'discard', '--tenant', 'shop', dl.id, '--json');
    expect(discard.code).toBe(0);
    expect(JSON.parse(discard.out)).toEqual([{ id: dl.id, outcome: 'discarded', released: 1 }]);
    expect(await stream('r')).toEqual(['r-1#1', 'r-3#2']);
    expect((await p.cli('dead-letters', 'retry', '--tenant', 'shop')).code).toBe(2);
  });

  it('dead-letters messages other producers wrote that cannot be stored, without blocking the partition; copies go to the DLQ topic', async () => {
    const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 3, replicationFactor: 0, clientId: 'test' });
    const producer = kafka.producer();
    await producer.connect();
    const now = new Date().toISOString();
    const envelope = (id: string, data: unknown) => JSON.stringify({ specversion: '1.0', id, tenant: 'shop', type: 'raw', source: '/elsewhere', subject: null, time: now, receivedAt: now, data });
    await producer.send({
      topic: p.topic,
      messages: [
        { key: 'shop', value: 'this is not JSON' },
        { key: 'shop', value: envelope('raw-nul', { text: 'a\u0000b' }) },
        { key: 'shop', value: envelope('raw-ok', { text: 'fine' }) },
      ],
    });
    await producer.disconnect();
    await waitFor('raw-ok processed', async () => (await get('raw-ok')).status === 'processed', 30000);
    const decode = await p.db.query(`SELECT error FROM dead_letters WHERE stage = 'decode' ORDER BY id`);
    expect(decode.rows.map((r: { error: string }) => r.error)).toEqual([
      expect.stringContaining('value is not JSON'),
      expect.stringContaining('NUL character'),
    ]);

    const seen: Record<string, string>[] = [];
    const consumer = kafka.consumer({ 'group.id': `dlq-reader-${Date.now()}`, 'auto.offset.reset': 'earliest' } as any);
    await consumer.connect();
    await consumer.subscribe({ topics: [`${p.topic}.dlq`] });
    await consumer.run({
      eachMessage: async ({ message }: any) => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) h[k] = String(v);
        seen.push(h);
      },
    });
    try {
      await waitFor('dead letters on the DLQ topic', async () => seen.length >= 5, 30000, 200);
    } finally {
      await consumer.disconnect();
    }
    expect(seen.filter((h) => h['tributary-stage'] === 'decode')).toHaveLength(2);
    expect(seen.find((h) => h.id === 'c1-2')).toMatchObject({ 'tributary-stage': 'schema', tenant: 'shop' });
    expect(seen.find((h) => h.id === 'r-2')).toMatchObject({ 'tributary-stage': 'schema' });
  });
});
