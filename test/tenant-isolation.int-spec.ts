import { createKafka } from '../libs/kafka/src/kafka-client';
import { Platform, waitFor } from './harness/platform';

/**
 * Hostile tenants against a quiet one on one partition (so every event shares one consumer and
 * one batch transaction): whatever the hostile tenant registers or sends, the quiet tenant's
 * events sent meanwhile are processed within 5 s, and the hostile tenant gets a clear error.
 */
describe('tenant isolation: hostile schemas and events', () => {
  const p = new Platform('isolation', 1);
  let quiet: string;
  let hostile: string;
  let producer: ReturnType<ReturnType<typeof createKafka>['producer']>;

  beforeAll(async () => {
    await p.start({ processors: 1 });
    quiet = await p.tenant('quiet', ['ingest', 'read']);
    hostile = await p.tenant('hostile', ['ingest', 'read', 'admin']);
    const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 1, replicationFactor: 0, clientId: 'test' });
    producer = kafka.producer();
    await producer.connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await p.stop();
  });

  const putSchema = (type: string, schema: unknown) => p.request('PUT', `/v1/schemas/${type}`, { key: hostile, body: schema });
  /** As another producer writing to the topic would: straight to Kafka, past the gateway's checks. */
  const produce = (tenant: string, events: Record<string, unknown>[]) => {
    const now = new Date().toISOString();
    return producer.send({
      topic: p.topic,
      messages: events.map((e) => ({ key: tenant, value: JSON.stringify({ specversion: '1.0', tenant, source: '/elsewhere', subject: null, time: now, receivedAt: now, data: null, ...e }) })),
    });
  };
  /** Sends the quiet tenant's event through the gateway and waits (≤ 5 s) until it is processed. */
  const quietGetsThrough = async (id: string) => {
    const sent = await p.request('POST', '/v1/events', { key: quiet, body: { id, type: 'order.created', data: { n: 1 } } });
    expect(sent.status).toBe(202);
    const started = Date.now();
    await waitFor(`quiet event ${id} processed`, async () => (await p.request('GET', `/v1/events/${id}`, { key: quiet })).body?.status === 'processed', 5000, 100);
    return Date.now() - started;
  };
  const deadLetter = (id: string) =>
    waitFor(`dead letter of ${id}`, async () => (await p.db.query(`SELECT stage, error FROM dead_letters WHERE event_id = $1`, [id])).rows[0], 10000, 100);

  it('refuses, with the place named, schemas that reach outside themselves or need backtracking', async () => {
    const collide = await putSchema('base', { $id: 'https://a.example/base.json', type: 'object' });
    expect(collide.status).toBe(422);
    expect(collide.body.errors).toEqual([{ path: '/$id', message: expect.stringContaining('not supported') }]);
    const remote = await putSchema('uses-base', { $ref: 'https://a.example/base.json' });
    expect(remote.status).toBe(422);
    expect(remote.body.errors[0].path).toBe('/$ref');
    const lookaround = await putSchema('look', { type: 'string', pattern: '^(?!x).*$' });
    expect(lookaround.status).toBe(422);
    expect(lookaround.body.errors[0].path).toBe('/pattern');
    const unbounded = await putSchema('uniq', { type: 'array', uniqueItems: true });
    expect(unbounded.body.errors[0].path).toBe('/uniqueItems');
  });

  it('refuses a 1 MB schema without stalling anyone', async () => {
    const props = Object.fromEntries(Array.from({ length: 40000 }, (_, i) => [`property${i}`, { type: 'integer' }]));
    const [big] = await Promise.all([putSchema('big', { type: 'object', properties: props }), quietGetsThrough('q-big')]);
    expect([413, 422]).toContain(big.status);
  });

  it('judges a catastrophic-backtracking pattern in linear time, at the gateway and in the processor', async () => {
    expect((await putSchema('word', { type: 'object', properties: { w: { type: 'string', pattern: '^(a+)+$' } } })).status).toBe(200);
    // A backtracking engine takes ~2.5 s for 28 a's and doubles with each one more.
    const evil = `${'a'.repeat(5000)}!`;
    const refused = await p.request('POST', '/v1/events', { key: hostile, body: { id: 'h-word-1', type: 'word', data: { w: evil } } });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0].path).toBe('/data/w');
    await produce('hostile', Array.from({ length: 50 }, (_, i) => ({ id: `h-word-k${i}`, type: 'word', data: { w: evil } })));
    await quietGetsThrough('q-word');
    expect(await deadLetter('h-word-k49')).toEqual({ stage: 'schema', error: expect.stringContaining('/data/w must match pattern') });
  });

  it('dead-letters events whose schema was written around the API (colliding $id, remote $ref), and processes the rest', async () => {
    // Stored directly, as a schema from before these checks would be.
    await p.db.query(`INSERT INTO event_schemas (tenant_id, type, schema) VALUES ('hostile', 'linked', $1)`, [JSON.stringify({ $ref: 'https://a.example/base.json' })]);
    await produce('hostile', [{ id: 'h-linked', type: 'linked', data: {} }]);
    await quietGetsThrough('q-linked');
    expect(await deadLetter('h-linked')).toEqual({ stage: 'schema', error: expect.stringContaining('only references inside the schema') });
  });

  it('answers a 60 KB array against uniqueItems quickly, by its maxItems', async () => {
    expect((await putSchema('tags', { type: 'array', uniqueItems: true, maxItems: 1000 })).status).toBe(200);
    const tags = Array.from({ length: 7000 }, (_, i) => ({ t: i % 7 }));
    const r = await p.request('POST', '/v1/events', { key: hostile, body: { id: 'h-tags', type: 'tags', data: tags } });
    expect(r.status).toBe(422);
    expect(r.body.errors).toEqual([{ path: '/data', message: 'must NOT have more than 1000 items' }]);
    await produce('hostile', [{ id: 'h-tags-k', type: 'tags', data: tags.slice(0, 1000) }]);
    await quietGetsThrough('q-tags');
    expect(await deadLetter('h-tags-k')).toEqual({ stage: 'schema', error: expect.stringContaining('duplicate items') });
  });

  it('ends a validation over its time budget, dead-letters that event with stage schema, and keeps going', async () => {
    // Within every static limit, yet quadratic: 6,000 enum objects against 6,000 items takes ~1 s.
    expect((await putSchema('slow', { type: 'array', items: { enum: Array.from({ length: 6000 }, (_, i) => ({ a: i })) } })).status).toBe(200);
    const slow = Array.from({ length: 6000 }, () => ({ a: -1 }));
    await produce('hostile', [{ id: 'h-slow-1', type: 'slow', data: slow }, { id: 'h-slow-2', type: 'slow', data: slow }]);
    await quietGetsThrough('q-slow');
    expect(await deadLetter('h-slow-1')).toEqual({ stage: 'schema', error: expect.stringMatching(/validating took over \d+ ms/) });
    expect(await deadLetter('h-slow-2')).toEqual({ stage: 'schema', error: expect.stringMatching(/validating took over \d+ ms/) });
    // At the gateway the same schema answers 422 at once, without running it again.
    const r = await p.request('POST', '/v1/events', { key: hostile, body: { type: 'slow', data: slow } });
    expect(r.status).toBe(422);
  });

  it('dead-letters, at decode, events another producer wrote past the limits (an id Postgres cannot index, year 0000), and processes the rest', async () => {
    await produce('hostile', [
      { id: 'x'.repeat(3000), type: 'long' },
      { id: 'h-subject', type: 'long', subject: 's'.repeat(3000) },
      { id: 'h-year0', type: 'old', time: '0000-01-01T00:00:00Z' },
    ]);
    await quietGetsThrough('q-limits');
    const dl = await waitFor('three decode dead letters', async () => {
      const r = await p.db.query(`SELECT stage, error, tenant_id FROM dead_letters WHERE stage = 'decode' ORDER BY id`);
      return r.rows.length === 3 ? r.rows : undefined;
    }, 10000, 100);
    expect(dl).toEqual([
      { stage: 'decode', tenant_id: null, error: "envelope field 'id' must be 1-128 characters" },
      { stage: 'decode', tenant_id: null, error: "envelope field 'subject' must be 1-256 characters" },
      { stage: 'decode', tenant_id: null, error: "envelope field 'time' must be between years 0001 and 9999 (UTC)" },
    ]);
  });
});
