import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createKafka } from '../libs/kafka/src/kafka-client';
import { Platform, waitFor } from './harness/platform';

describe('tributary backfill: NDJSON through the gateway path, idempotent by id', () => {
  const p = new Platform('backfill', 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-backfill-'));
  const file = path.join(dir, 'events.ndjson');
  const GOOD = 300;

  // Line numbers (1-based) of the bad lines and why they are bad.
  const bad: Record<number, { raw: string; error: string }> = {
    7: { raw: '{"id": "x-7", "type": ', error: 'not JSON' },
    50: { raw: JSON.stringify({ id: 'x-50', time: '2025-06-01T00:00:00Z' }), error: '/type is required' },
    120: { raw: JSON.stringify({ type: 'a', time: '2025-06-01T00:00:00Z' }), error: '/id is required for backfill' },
    200: { raw: JSON.stringify({ id: 'x-200', type: 'a' }), error: '/time is required for backfill' },
    250: { raw: JSON.stringify({ specversion: '1.0', id: 'x-250', type: 'a', time: '2025-06-01T00:00:00Z' }), error: '/source is required' },
  };
  const lines: string[] = [];
  let good = 0;
  while (good < GOOD) {
    const line = lines.length + 1;
    if (bad[line]) lines.push(bad[line].raw);
    else {
      const time = new Date(Date.UTC(2025, 5, 1, 0, good % 30)).toISOString();
      // Every fourth event is a structured CloudEvent.
      lines.push(JSON.stringify(good % 4 === 0 ? { specversion: '1.0', id: `b-${good}`, type: 'order.created', source: '/legacy', time, data: { n: good } } : { id: `b-${good}`, type: 'order.paid', subject: `o-${good % 10}`, time }));
      good++;
    }
  }
  lines.push(lines[1]); // the second line again: a duplicate inside the file
  const totalLines = lines.length;

  let offsets: () => Promise<number>;

  beforeAll(async () => {
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    await p.start({ processors: 1 });
    await p.tenant('acme');
    const admin = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 3, replicationFactor: 0, clientId: 'test' }).admin();
    await admin.connect();
    offsets = async () => (await admin.fetchTopicOffsets(p.topic)).reduce((s, o) => s + Number(o.high), 0);
    (p as any).admin = admin;
  });
  afterAll(async () => {
    await (p as any).admin?.disconnect();
    await p.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const rows = async () => {
    const q = async (sql: string) => Number((await p.db.query(sql)).rows[0].n);
    return {
      events: await q(`SELECT count(*) AS n FROM events WHERE tenant_id = 'acme'`),
      ids: await q(`SELECT count(*) AS n FROM event_ids WHERE tenant_id = 'acme'`),
      counted: await q(`SELECT coalesce(sum(count), 0) AS n FROM event_counts WHERE tenant_id = 'acme'`),
      duplicates: await q(`SELECT coalesce(sum(count), 0) AS n FROM duplicate_counts WHERE tenant_id = 'acme'`),
    };
  };

  it('accepts the good lines, reports the bad ones by line number in the summary and the rejects file, keeps event times', async () => {
    const r = await p.cli('backfill', file, '--tenant', 'acme', '--json');
    expect(r.code).toBe(4);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({ lines: totalLines, accepted: GOOD, duplicates: 1, rejected: Object.keys(bad).length, rejectsFile: `${file}.rejects.ndjson` });
    expect(s.rejects.map((x: { line: number }) => x.line)).toEqual(Object.keys(bad).map(Number));
    for (const x of s.rejects) expect(x.error).toContain(bad[x.line].error);

    const written = fs.readFileSync(`${file}.rejects.ndjson`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(written.map((x) => x.line)).toEqual(Object.keys(bad).map(Number));
    expect(written.map((x) => x.raw)).toEqual(Object.values(bad).map((b) => b.raw));

    await waitFor(`${GOOD} events stored`, async () => (await rows()).events === GOOD, 60000, 100);
    const e = (await p.db.query(`SELECT time, source, specversion FROM events WHERE tenant_id = 'acme' AND event_id = 'b-0'`)).rows[0];
    expect(e.time.toISOString()).toBe('2025-06-01T00:00:00.000Z');
    expect(e.source).toBe('/legacy');
    expect(await rows()).toEqual({ events: GOOD, ids: GOOD, counted: GOOD, duplicates: 0 });
  });

  it('a second run reports every good line as a duplicate, produces nothing and changes nothing', async () => {
    const before = { rows: await rows(), offsets: await offsets() };
    const r = await p.cli('backfill', file, '--tenant', 'acme');
    expect(r.code).toBe(4);
    expect(r.out).toContain(`accepted 0, duplicates ${GOOD + 1}, rejected ${Object.keys(bad).length} of ${totalLines} lines`);
    expect(r.out).toContain('line 7: not JSON');
    expect(await offsets()).toBe(before.offsets);
    expect(await rows()).toEqual(before.rows);
  });

  it('--dry-run validates and counts without producing; bad usage and unknown tenants exit 2 and 3', async () => {
    const fresh = path.join(dir, 'fresh.ndjson');
    fs.writeFileSync(fresh, ['n-1', 'n-2', 'b-3'].map((id) => JSON.stringify({ id, type: 'a', time: '2025-07-01T00:00:00Z' })).join('\n'));
    const before = await offsets();
    const r = await p.cli('backfill', fresh, '--tenant', 'acme', '--dry-run', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ dryRun: true, accepted: 2, duplicates: 1, rejected: 0 });
    expect(await offsets()).toBe(before);
    expect(fs.existsSync(`${fresh}.rejects.ndjson`)).toBe(false);

    expect((await p.cli('backfill', path.join(dir, 'missing.ndjson'), '--tenant', 'acme')).code).toBe(2);
    const nobody = await p.cli('backfill', fresh, '--tenant', 'nobody');
    expect(nobody.code).toBe(3);
    expect(nobody.err).toContain("tenant 'nobody' does not exist");
    expect((await p.cli('backfill', fresh, '--tenant', 'acme', '--rate', 'fast')).code).toBe(2);
  });
});
