import { Platform, waitFor } from './harness/platform';

// The foundation's acceptance scenario: 1,000 events over 20 subjects, then the same again.
describe('processing: event store, streams and counts', () => {
  const p = new Platform('processing');
  let key: string;
  const SUBJECTS = 20;
  const TOTAL = 1000;
  // Event i belongs to subject i % 20, so each subject gets 50 events, interleaved with the others.
  const events = Array.from({ length: TOTAL }, (_, i) => ({
    id: `evt-${i}`,
    type: i % 3 === 0 ? 'order.created' : 'order.paid',
    subject: `order-${i % SUBJECTS}`,
    time: new Date(Date.UTC(2026, 0, 1, 12, Math.floor(i / 100))).toISOString(),
    data: { i },
  }));
  const batches = Array.from({ length: TOTAL / 100 }, (_, b) => events.slice(b * 100, b * 100 + 100));

  beforeAll(async () => {
    await p.start({ processors: 2 });
    key = await p.tenant('shop');
  });
  afterAll(() => p.stop());

  const postAll = async () => {
    for (const batch of batches) {
      const r = await p.request('POST', '/v1/events', { key, body: batch });
      expect(r.status).toBe(202);
      expect(r.body.accepted).toBe(batch.length);
    }
  };

  const counts = async () => (await p.request('GET', '/v1/stats/counts?bucket=minute', { key })).body;

  const streams = async () => {
    const out: Record<string, { id: string; sequence: number }[]> = {};
    for (let s = 0; s < SUBJECTS; s++) {
      const r = await p.request('GET', `/v1/streams/order-${s}`, { key });
      out[`order-${s}`] = r.body.events.map((e: { id: string; sequence: number }) => ({ id: e.id, sequence: e.sequence }));
    }
    return out;
  };

  it('processes 1,000 events within 5 s: every id answers processed, streams are 1..n in send order, counts sum to 1,000', async () => {
    await postAll();
    await waitFor('all 1,000 events processed', async () => {
      const r = await p.db.query(`SELECT count(*)::int AS n FROM events WHERE tenant_id = 'shop'`);
      return r.rows[0].n === TOTAL;
    }, 5000, 50);

    const statuses = await Promise.all(events.map(async (e) => (await p.request('GET', `/v1/events/${e.id}`, { key })).body.status));
    expect(statuses.filter((s) => s === 'processed')).toHaveLength(TOTAL);

    const s = await streams();
    for (let sub = 0; sub < SUBJECTS; sub++) {
      const expected = events.filter((e) => e.subject === `order-${sub}`).map((e, i) => ({ id: e.id, sequence: i + 1 }));
      expect(s[`order-${sub}`]).toEqual(expected);
    }

    const c = await counts();
    expect(c.series.reduce((sum: number, row: { count: number }) => sum + row.count, 0)).toBe(TOTAL);
    // 10 minutes × 2 types, each minute holding 100 events of which ⌈100/3⌉ or so are order.created.
    const created = c.series.filter((r: { type: string }) => r.type === 'order.created').reduce((a: number, r: { count: number }) => a + r.count, 0);
    expect(created).toBe(events.filter((e) => e.type === 'order.created').length);
    const hourly = (await p.request('GET', '/v1/stats/counts?bucket=hour', { key })).body.series;
    expect(hourly).toEqual([
      { time: '2026-01-01T12:00:00.000Z', type: 'order.created', count: created },
      { time: '2026-01-01T12:00:00.000Z', type: 'order.paid', count: TOTAL - created },
    ]);
  });

  it('posting the same batches again changes no count and no sequence, and counts the duplicates', async () => {
    const before = { counts: await counts(), streams: await streams() };
    await postAll();
    await waitFor('duplicates counted', async () => (await counts()).duplicates === TOTAL, 10000);
    const after = { counts: await counts(), streams: await streams() };
    expect(after.streams).toEqual(before.streams);
    expect(after.counts.series).toEqual(before.counts.series);
    const stored = await p.db.query(`SELECT count(*)::int AS n FROM events WHERE tenant_id = 'shop'`);
    expect(stored.rows[0].n).toBe(TOTAL);
  });

  it('keeps the Postgres checkpoint at the end of every partition it read', async () => {
    const r = await p.db.query(`SELECT partition, next_offset::int AS next FROM consumer_checkpoints WHERE topic = $1 AND group_id = $2`, [p.topic, p.group]);
    const total = r.rows.reduce((a: number, row: { next: number }) => a + row.next, 0);
    // Every message the gateway produced (2 × 1,000) is covered by a checkpoint.
    expect(total).toBe(2 * TOTAL);
  });

  it('exposes what happened as Prometheus metrics on the gateway and the processors', async () => {
    const scrape = async (url: string) => {
      const r = await fetch(`${url}/metrics`);
      expect(r.status).toBe(200);
      return r.text();
    };
    // Sum of a series over label sets matching every `want` label.
    const value = (text: string, name: string, want: Record<string, string> = {}) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
        .filter((l) => Object.entries(want).every(([k, v]) => l.includes(`${k}="${v}"`)))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);

    const gw = await scrape(p.opsUrl);
    expect(value(gw, 'tributary_events_accepted_total', { tenant: 'shop' })).toBe(2 * TOTAL);
    expect(value(gw, 'tributary_http_request_duration_seconds_count', { route: '/v1/events', method: 'POST', status: '202' })).toBe(20);
    expect(gw).toContain('tributary_producer_inflight_messages 0');
    expect(gw).toContain('tributary_process_cpu_seconds_total');

    const procs = await Promise.all(p.processorUrls.map(scrape));
    const sum = (name: string, want: Record<string, string> = {}) => procs.reduce((a, t) => a + value(t, name, want), 0);
    expect(sum('tributary_events_processed_total', { tenant: 'shop' })).toBe(TOTAL);
    expect(sum('tributary_events_duplicates_total', { tenant: 'shop' })).toBe(TOTAL);
    expect(sum('tributary_end_to_end_latency_seconds_count')).toBe(TOTAL);
    expect(sum('tributary_batch_size_sum')).toBe(2 * TOTAL);
    expect(procs.join('\n')).toMatch(new RegExp(`tributary_consumer_lag\\{topic="${p.topic.replace(/\./g, '\\.')}",partition="\\d+"\\} 0`));

    for (const url of p.processorUrls) {
      const ready = (await (await fetch(`${url}/health/ready`)).json()) as { info: unknown };
      expect(ready.info).toMatchObject({ postgres: { status: 'up' }, kafka: { status: 'up' }, consumer_loop: { status: 'up' } });
    }
  });
});
