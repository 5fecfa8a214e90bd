import * as net from 'net';
import { Platform, waitFor } from './harness/platform';
import { PrivateBroker } from './harness/private-broker';

/**
 * Graceful shutdown (docs/guarantees.md) caught in the middle of work: SIGTERM to a processor
 * with a backlog in front of it, and to the gateway with requests waiting for Kafka's ack.
 */
const TOTAL = Number(process.env.DRAIN_EVENTS ?? 20_000);
const SHUTDOWN_TIMEOUT_MS = 25_000;
// Enough for posting and applying TOTAL events twice on a loaded 2-core machine.
const TIMEOUT = 120_000 + TOTAL * 10;

const sumCheckpoints = async (p: Platform) =>
  Number((await p.db.query(`SELECT coalesce(sum(next_offset), 0) AS n FROM consumer_checkpoints WHERE group_id = $1 AND topic = $2`, [p.group, p.topic])).rows[0].n);
const storedCount = async (p: Platform) => Number((await p.db.query(`SELECT count(*) AS n FROM events`)).rows[0].n);

describe('drain: SIGTERM to a processor in the middle of a backlog', () => {
  // Small batches, so the backlog takes many transactions and the signal lands between them.
  const p = new Platform('drainproc', 6, { TRIBUTARY_BATCH_SIZE: '250', TRIBUTARY_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) });
  let key: string;

  beforeAll(async () => {
    await p.start({ processors: 0 });
    key = await p.tenant('acme');
    // The backlog: every event in Kafka before any processor runs.
    for (let b = 0; b < TOTAL; b += 1000) {
      const body = Array.from({ length: Math.min(1000, TOTAL - b) }, (_, k) => ({ id: `e-${b + k}`, type: `t${(b + k) % 3}`, subject: `s-${(b + k) % 100}`, data: { i: b + k } }));
      const r = await p.request('POST', '/v1/events', { key, body });
      if (r.status !== 202) throw new Error(`backlog batch refused: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    }
  }, TIMEOUT);
  afterAll(() => p.stop());

  it(`commits what it applied, checkpoints exactly that, exits 0 within the deadline; the next processor finishes the ${TOTAL} with nothing lost or doubled`, async () => {
    await p.startProcessor(0);
    await waitFor('the first events applied', async () => (await storedCount(p)) >= Math.min(1000, TOTAL / 10), TIMEOUT, 20);

    const signalled = Date.now();
    const atSignal = await storedCount(p);
    const code = await p.terminateProcessor(0);
    const tookMs = Date.now() - signalled;
    const applied = await storedCount(p);
    process.stderr.write(`processor drain: SIGTERM with ${atSignal}/${TOTAL} applied, exited ${code} after ${tookMs} ms with ${applied} applied\n`);
    expect(code).toBe(0); // the deadline exits 1, so 0 means it finished within it
    expect(tookMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    // Really in the middle: the backlog was not finished when it stopped.
    expect(applied).toBeLessThan(TOTAL);
    // What was applied is committed and covered exactly by the checkpoint (one message per event).
    expect(await sumCheckpoints(p)).toBe(applied);
    const gaps = await p.db.query(`SELECT tenant_id, subject FROM events GROUP BY 1, 2 HAVING max(sequence) <> count(*)`);
    expect(gaps.rows).toEqual([]);

    const next = await p.startProcessor(1);
    await waitFor(`all ${TOTAL} applied by the next processor`, async () => (await storedCount(p)) === TOTAL, TIMEOUT, 200);
    expect(next).toBe(1);
    expect((await p.db.query(`SELECT count(DISTINCT event_id)::int AS n FROM events`)).rows[0].n).toBe(TOTAL);
    expect((await p.db.query(`SELECT coalesce(sum(count), 0)::int AS n FROM duplicate_counts`)).rows[0].n).toBe(0);
    expect((await p.db.query(`SELECT coalesce(sum(count), 0)::int AS n FROM event_counts`)).rows[0].n).toBe(TOTAL);
    await waitFor('the checkpoints at the end of the log', async () => (await sumCheckpoints(p)) === TOTAL, 30000, 200);
    // Each stream numbered 1..n in send order across the hand-over.
    const order = await p.db.query(`SELECT count(*)::int AS n FROM (
        SELECT (data->>'i')::int - lag((data->>'i')::int) OVER w AS step, sequence - lag(sequence) OVER w AS seqstep
          FROM events WINDOW w AS (PARTITION BY subject ORDER BY sequence)) x
       WHERE step <= 0 OR seqstep <> 1`);
    expect(order.rows[0].n).toBe(0);
  }, TIMEOUT);
});

describe('drain: SIGTERM to the gateway with requests in flight', () => {
  const broker = new PrivateBroker();
  let p: Platform;
  let key: string;
  // Long enough that the requests are still waiting for the ack when the signal comes.
  const PRODUCE_TIMEOUT_MS = 20_000;

  beforeAll(async () => {
    await broker.start();
    p = new Platform('draingw', 3, {
      KAFKA_BROKERS: broker.brokers,
      TRIBUTARY_REPLICATION_FACTOR: '1',
      TRIBUTARY_PRODUCE_TIMEOUT_MS: String(PRODUCE_TIMEOUT_MS),
      TRIBUTARY_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    });
    await p.start();
    key = await p.tenant('acme');
    await p.processorReady(0);
  }, 180_000);
  afterAll(async () => {
    broker.resume();
    await p?.stop();
    await broker.stop();
  });

  const inflight = async () => {
    const text = await (await fetch(`${p.opsUrl}/metrics`)).text();
    return Number(/^tributary_producer_inflight_messages (\d+)/m.exec(text)?.[1] ?? NaN);
  };
  /** Resolves 'refused' when a new TCP connection to the API port is refused. */
  const connect = (url: string) =>
    new Promise<'accepted' | 'refused'>((resolve) => {
      const u = new URL(url);
      const s = net.connect(Number(u.port), u.hostname);
      s.once('connect', () => { s.destroy(); resolve('accepted'); });
      s.once('error', () => resolve('refused'));
    });

  it('answers every in-flight request (202 only for what Kafka acknowledged), refuses new connections, exits 0', async () => {
    expect((await p.request('POST', '/v1/events', { key, body: { id: 'before', type: 'a' } })).status).toBe(202);
    const REQUESTS = 20;
    const PER = 50;
    broker.pause();
    const answers = Array.from({ length: REQUESTS }, (_, r) =>
      p.request('POST', '/v1/events', { key, body: Array.from({ length: PER }, (_, i) => ({ id: `inflight-${r}-${i}`, type: 'a', subject: `s-${r}` })) })
        .then((a) => ({ r, status: a.status as number, error: '' }), (e: Error) => ({ r, status: 0, error: `${e.message} ${(e.cause as Error)?.message ?? ''}` })),
    );
    // Every request is inside the gateway, waiting for the frozen broker's ack.
    await waitFor('all requests waiting for the ack', async () => (await inflight()) === REQUESTS * PER, 30000, 100);

    const url = p.url;
    const pid = p.gatewayPid()!;
    const exited = p.terminateGateway();
    // While it drains (still alive, still holding the requests), new connections are refused.
    await waitFor('new connections refused', async () => (await connect(url)) === 'refused', 10000, 50);
    expect(() => process.kill(pid, 0)).not.toThrow();

    broker.resume();
    const results = await Promise.all(answers);
    const code = await exited;
    process.stderr.write(`gateway drain: ${JSON.stringify(results.reduce((m: Record<string, number>, a) => ({ ...m, [a.status]: (m[a.status] ?? 0) + 1 }), {}))} exit ${code}\n`);
    expect(results.filter((a) => a.status === 0)).toEqual([]); // every request got an HTTP answer
    expect(results.filter((a) => a.status !== 202 && a.status !== 503)).toEqual([]);
    // With the broker back before the produce timeout, the acks arrive during the drain.
    expect(results.filter((a) => a.status === 202).length).toBeGreaterThan(0);
    expect(code).toBe(0);

    // Each 202 was acknowledged by Kafka: its events reach the store.
    const ok = results.filter((a) => a.status === 202).map((a) => a.r);
    await waitFor('every acknowledged event stored', async () => {
      const n = Number((await p.db.query(`SELECT count(*) AS n FROM events WHERE event_id LIKE 'inflight-%' AND split_part(event_id, '-', 2)::int = ANY($1::int[])`, [ok])).rows[0].n);
      return n === ok.length * PER;
    }, 60000, 200);
  }, 180_000);
});
