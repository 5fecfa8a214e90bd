import { Platform, waitFor } from './harness/platform';

/**
 * kill -9 of processors in the middle of a run, then restarts: the final event store, streams
 * and counts must be exactly what the sent events imply (what a run without the kill gives).
 * CRASH_EVENTS sets the size (default 100,000).
 */
const TOTAL = Number(process.env.CRASH_EVENTS ?? 100_000);
const TENANTS = ['alpha', 'beta', 'gamma'];
const SUBJECTS_PER_TENANT = 200;
const BATCH = 1000;
// The test's own limit and its waits' from its size: ~2 ms per event posted and applied on this
// shared 2-core machine, three times over, plus start-up (100,000 events: 12 minutes).
const TIMEOUT = 120_000 + TOTAL * 6;

interface Sent { tenant: string; id: string; type: string; subject: string; time: string }

function plan(): Sent[] {
  const out: Sent[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const tenant = TENANTS[i % TENANTS.length];
    out.push({
      tenant,
      id: `e-${i}`,
      type: `type-${i % 5}`,
      subject: `s-${(i * 7) % SUBJECTS_PER_TENANT}`,
      time: new Date(Date.UTC(2026, 2, 1, 0, i % 90)).toISOString(),
    });
  }
  return out;
}

describe('crash recovery: a processor joining and kill -9 of processors mid-run', () => {
  const p = new Platform('crash');
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    await p.start({ processors: 2 });
    for (const t of TENANTS) keys[t] = await p.tenant(t);
  }, 180_000);
  afterAll(() => p.stop());

  const stored = async () => (await p.db.query(`SELECT count(*)::int AS n FROM events`)).rows[0].n as number;

  it(`stores ${TOTAL} events exactly once, streams gapless in send order, counts equal to a recount`, async () => {
    const events = plan();
    // One sender per tenant keeps each tenant's (hence each subject's) send order; tenants run in parallel.
    // 'gamma' spreads over partitions by subject (partitionkey), the others use one partition each.
    const send = async (tenant: string) => {
      const mine = events.filter((e) => e.tenant === tenant);
      for (let b = 0; b < mine.length; b += BATCH) {
        const body = mine.slice(b, b + BATCH).map(({ tenant: t, ...e }) => (t === 'gamma' ? { ...e, partitionkey: e.subject } : e));
        const r = await p.request('POST', '/v1/events', { key: keys[tenant], body });
        if (r.status !== 202 || r.body.accepted !== body.length) throw new Error(`batch refused: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
    };
    const chaos = (async () => {
      // A processor joining under load (cooperative rebalance), then two kill -9s.
      await waitFor('15% stored', async () => (await stored()) >= TOTAL * 0.15, TIMEOUT, 50);
      await p.startProcessor(2);
      await waitFor('30% stored', async () => (await stored()) >= TOTAL * 0.3, TIMEOUT, 50);
      await p.killProcessor(0);
      await p.startProcessor(0);
      await waitFor('60% stored', async () => (await stored()) >= TOTAL * 0.6, TIMEOUT, 50);
      await p.killProcessor(1);
      await new Promise((r) => setTimeout(r, 500));
      await p.startProcessor(1);
    })();
    await Promise.all([...TENANTS.map(send), chaos]);
    await waitFor('every event stored', async () => (await stored()) === TOTAL, TIMEOUT, 200);

    // Exactly once: as many rows as ids, none counted as duplicate (a replayed batch is skipped, not re-applied).
    const ids = await p.db.query(`SELECT count(DISTINCT (tenant_id, event_id))::int AS n FROM events`);
    expect(ids.rows[0].n).toBe(TOTAL);
    expect((await p.db.query(`SELECT coalesce(sum(count), 0)::int AS n FROM duplicate_counts`)).rows[0].n).toBe(0);

    // Streams: 1..n, in send order, for every tenant × subject.
    const rows = await p.db.query<{ tenant_id: string; subject: string; sequence: string; event_id: string }>(
      `SELECT tenant_id, subject, sequence, event_id FROM events ORDER BY tenant_id, subject, sequence`,
    );
    const actual = new Map<string, string[]>();
    const gaps: string[] = [];
    for (const r of rows.rows) {
      const k = `${r.tenant_id}/${r.subject}`;
      const list = actual.get(k) ?? [];
      if (Number(r.sequence) !== list.length + 1) gaps.push(`${k}@${r.sequence}`);
      list.push(r.event_id);
      actual.set(k, list);
    }
    expect(gaps).toEqual([]);
    const expected = new Map<string, string[]>();
    for (const e of events) {
      const k = `${e.tenant}/${e.subject}`;
      expected.set(k, [...(expected.get(k) ?? []), e.id]);
    }
    const outOfOrder = [...expected.entries()].filter(([k, ids]) => JSON.stringify(actual.get(k)) !== JSON.stringify(ids)).map(([k]) => k);
    expect(outOfOrder).toEqual([]);

    // Counts: the projection equals both a recount from the event store and what was sent.
    const diff = await p.db.query(`
      (SELECT tenant_id, type, bucket, count FROM event_counts
       EXCEPT SELECT tenant_id, type, date_trunc('minute', time), count(*) FROM events GROUP BY 1, 2, 3)
      UNION ALL
      (SELECT tenant_id, type, date_trunc('minute', time), count(*) FROM events GROUP BY 1, 2, 3
       EXCEPT SELECT tenant_id, type, bucket, count FROM event_counts)`);
    expect(diff.rows).toEqual([]);
    const sentCounts = new Map<string, number>();
    for (const e of events) sentCounts.set(`${e.tenant}|${e.type}|${e.time}`, (sentCounts.get(`${e.tenant}|${e.type}|${e.time}`) ?? 0) + 1);
    const projected = await p.db.query<{ k: string; count: string }>(`SELECT tenant_id || '|' || type || '|' || to_char(bucket, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS k, count FROM event_counts`);
    expect(new Map(projected.rows.map((r) => [r.k, Number(r.count)]))).toEqual(sentCounts);
  }, TIMEOUT);
});
