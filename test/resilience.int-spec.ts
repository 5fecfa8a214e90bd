import { Platform, waitFor } from './harness/platform';
import { PrivateBroker } from './harness/private-broker';

// The produce timeout of the first file: the 503 comes from it (asserted as at least this long,
// and well before the 30 s request timeout), not from a wall-clock bar that a loaded machine misses.
const PRODUCE_TIMEOUT_MS = 2000;

describe('gateway backpressure: Kafka unreachable', () => {
  const broker = new PrivateBroker();
  let p: Platform;
  let key: string;

  beforeAll(async () => {
    await broker.start();
    p = new Platform('backpressure', 3, { KAFKA_BROKERS: broker.brokers, TRIBUTARY_REPLICATION_FACTOR: '1', TRIBUTARY_PRODUCER_BUFFER_MB: '2', TRIBUTARY_PRODUCE_TIMEOUT_MS: String(PRODUCE_TIMEOUT_MS) });
    await p.start();
    key = await p.tenant('acme');
  });
  afterAll(async () => {
    broker.resume();
    await p?.stop();
    await broker.stop();
  });

  it('answers 503 with Retry-After after the produce timeout while the broker is frozen, and 202 again once it is back', async () => {
    expect((await p.request('POST', '/v1/events', { key, body: { id: 'before', type: 'a' } })).status).toBe(202);
    await waitFor('before processed', async () => (await p.request('GET', '/v1/events/before', { key })).status === 200, 30000, 250);

    broker.pause();
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => p.request('POST', '/v1/events', { key, body: { id: `during-${i}`, type: 'a' } }).then((r) => ({ ...r, ms: Date.now() - started }))),
    );
    process.stderr.write(`frozen broker: 503 after ${answers.map((r) => r.ms).join(', ')} ms (produce timeout ${PRODUCE_TIMEOUT_MS} ms)\n`);
    for (const r of answers) {
      expect(r.status).toBe(503);
      // Answered by the produce timeout (not earlier: the broker never refused; not by the
      // request timeout of 30 s). The margin is for a loaded machine, not a performance bar.
      expect(r.ms).toBeGreaterThanOrEqual(PRODUCE_TIMEOUT_MS - 100);
      expect(r.ms).toBeLessThan(PRODUCE_TIMEOUT_MS + 15000);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(r.body.code).toBe('broker_unavailable');
    }
    expect((await p.request('GET', '/health/ready')).status).toBe(503);

    broker.resume();
    // No operator action: the same client retry goes through once the broker answers again.
    const after = await waitFor('ingest accepted again', async () => {
      const r = await p.request('POST', '/v1/events', { key, body: { id: 'after', type: 'a' } });
      return r.status === 202 ? r : undefined;
    }, 60000, 500);
    expect(after.body.id).toBe('after');
    // Every 202 is processed: the processor rode out the freeze by itself too.
    await waitFor('after processed', async () => (await p.request('GET', '/v1/events/after', { key })).status === 200, 60000, 250);
  });

  it('holds at most TRIBUTARY_PRODUCER_BUFFER_MB (2 here) of unacknowledged events: beyond it, 503 at once, never 202', async () => {
    broker.pause();
    try {
      // Eight requests of ~900 KB each while the broker is frozen: ~7 MB offered to a 2 MB buffer.
      const batch = (r: number) => Array.from({ length: 900 }, (_, i) => ({ id: `big-${r}-${i}`, type: 'a', data: { pad: 'x'.repeat(900) } }));
      const answers = await Promise.all(Array.from({ length: 8 }, (_, r) => p.request('POST', '/v1/events', { key, body: batch(r) })));
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(503));
      // Some never entered the buffer: refused as full, not after the produce timeout.
      expect(answers.filter((a) => /Queue full/i.test(a.body.detail)).length).toBeGreaterThan(0);
    } finally {
      broker.resume();
    }
    await waitFor('ingest accepted again', async () => (await p.request('POST', '/v1/events', { key, body: { id: 'after-big', type: 'a' } })).status === 202, 60000, 500);
  });
});

describe('rate limit and graceful shutdown', () => {
  // 1 event/s: the 100 tokens the second request needs take 100 s to refill, so however slow the
  // first request is, the second is over the rate.
  const p = new Platform('limits', 6, { TRIBUTARY_TENANT_RATE: '1', TRIBUTARY_TENANT_BURST: '300', TRIBUTARY_SESSION_TIMEOUT_MS: '60000' });
  let key: string;
  let other: string;

  beforeAll(async () => {
    await p.start({ processors: 2 });
    key = await p.tenant('busy');
    other = await p.tenant('quiet');
  });
  afterAll(() => p.stop());

  it("answers 429 with Retry-After over a tenant's rate, without slowing other tenants", async () => {
    const batch = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'a' }));
    expect((await p.request('POST', '/v1/events', { key, body: batch(300, 'burst') })).status).toBe(202);
    const limited = await p.request('POST', '/v1/events', { key, body: batch(100, 'over') });
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await p.request('POST', '/v1/events', { key: other, body: batch(100, 'other') })).status).toBe(202);
  });

  it('a SIGTERMed processor finishes, exits 0 and leaves the group: the other takes over well before the session timeout', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => ({ id: `pre-${i}`, type: 'b', subject: `s-${i % 5}` }));
    expect((await p.request('POST', '/v1/events', { key: other, body: ids })).status).toBe(202);
    await waitFor('pre events processed', async () => (await p.request('GET', '/v1/events/pre-49', { key: other })).status === 200, 60000);

    expect(await p.terminateProcessor(0)).toBe(0);
    // With a 60 s session timeout, only a clean leave lets processor 1 own every partition this fast.
    const post = Array.from({ length: 60 }, (_, i) => ({ id: `post-${i}`, type: 'b', subject: `s-${i % 6}` }));
    expect((await p.request('POST', '/v1/events', { key: other, body: post })).status).toBe(202);
    await waitFor('events processed by the remaining processor', async () => {
      const r = await p.db.query(`SELECT count(*)::int AS n FROM events WHERE event_id LIKE 'post-%'`);
      return r.rows[0].n === 60;
    }, 30000, 200);
  });
});
