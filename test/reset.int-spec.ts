import { createKafka } from '../libs/kafka/src/kafka-client';
import { Platform, waitFor } from './harness/platform';

describe('tributary reset: re-read Kafka from a point, checkpoints moved in step, store unchanged', () => {
  const p = new Platform('reset', 3);
  let acme: string;
  let globex: string;
  let admin: ReturnType<ReturnType<typeof createKafka>['admin']>;
  let between = '';
  const WAVE = 300;

  const post = async (key: string, prefix: string, n: number) => {
    // partitionkey spreads acme over every partition; globex keeps one key (one partition).
    const body = Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'a', subject: `s-${i % 7}`, ...(prefix.startsWith('acme') ? { partitionkey: `k${i % 9}` } : {}) }));
    for (let i = 0; i < n; i += 500) expect((await p.request('POST', '/v1/events', { key, body: body.slice(i, i + 500) })).status).toBe(202);
  };

  const checkpoints = async () =>
    Object.fromEntries((await p.db.query(`SELECT partition, next_offset::int AS o FROM consumer_checkpoints WHERE group_id = $1 ORDER BY 1`, [p.group])).rows.map((r) => [r.partition, r.o]));
  const committed = async () =>
    Object.fromEntries((await admin.fetchOffsets({ groupId: p.group, topics: [p.topic] }))[0].partitions.map((x) => [x.partition, Number(x.offset)]));
  const high = async () => Object.fromEntries((await admin.fetchTopicOffsets(p.topic)).map((o) => [o.partition, Number(o.high)]));
  const store = async () =>
    (
      await p.db.query(`
        SELECT (SELECT count(*)::int FROM events) AS events,
               (SELECT count(*)::int FROM event_ids) AS ids,
               (SELECT coalesce(sum(count), 0)::int FROM event_counts) AS counted,
               (SELECT coalesce(sum(count), 0)::int FROM duplicate_counts) AS duplicates,
               (SELECT coalesce(sum(last_sequence), 0)::int FROM streams) AS sequences`)
    ).rows[0];
  const caughtUp = async () => {
    const h = await high();
    return waitFor('the processor caught up', async () => JSON.stringify(await checkpoints()) === JSON.stringify(h), 120000, 100);
  };
  const stopProcessor = async () => {
    await p.terminateProcessor(0);
    // The group is empty once the broker has processed the leave.
    await waitFor('the group to be empty', async () => (await admin.describeGroups([p.group])).groups[0].members.length === 0, 60000, 200);
  };

  beforeAll(async () => {
    await p.start({ processors: 1 });
    acme = await p.tenant('acme');
    globex = await p.tenant('globex');
    admin = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 3, replicationFactor: 0, clientId: 'test' }).admin();
    await admin.connect();
    await post(acme, 'acme1', WAVE);
    await post(globex, 'globex', 100);
    await new Promise((r) => setTimeout(r, 1100));
    between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await post(acme, 'acme2', WAVE);
    await caughtUp();
  });
  afterAll(async () => {
    await admin?.disconnect();
    await p.stop();
  });

  it('refuses while the group has members (3) and on bad usage (2)', async () => {
    const busy = await p.cli('reset', '--group', p.group, '--to-earliest');
    expect(busy.code).toBe(3);
    expect(busy.err).toContain('active member');
    expect((await p.cli('reset', '--group', p.group)).code).toBe(2);
    expect((await p.cli('reset', '--group', p.group, '--to-earliest', '--to-timestamp', between)).code).toBe(2);
    expect((await p.cli('reset', '--to-earliest')).code).toBe(2);
    expect((await p.cli('reset', '--group', p.group, '--to-timestamp', 'yesterday')).code).toBe(2);
  });

  it('--to-earliest: dry run changes nothing; the reset moves both checkpoints; the processor re-reads and the store is unchanged', async () => {
    const before = await store();
    expect(before).toMatchObject({ events: 2 * WAVE + 100, counted: 2 * WAVE + 100, duplicates: 0 });
    const ends = await high();
    await stopProcessor();

    const dry = await p.cli('reset', '--group', p.group, '--to-earliest', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.out)).toMatchObject({ dryRun: true, reread: 2 * WAVE + 100 });
    expect(await checkpoints()).toEqual(ends);

    const r = await p.cli('reset', '--group', p.group, '--to-earliest', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).reread).toBe(2 * WAVE + 100);
    const zero = Object.fromEntries(Object.keys(ends).map((k) => [k, 0]));
    expect(await checkpoints()).toEqual(zero);
    expect(await committed()).toEqual(zero);

    await p.startProcessor(0);
    await caughtUp();
    expect(await store()).toEqual(before);
  });

  it('--to-timestamp re-reads what was produced after it; --tenant limits the move to that tenant\'s partitions', async () => {
    const before = await store();
    const ends = await high();
    await stopProcessor();

    const r = await p.cli('reset', '--group', p.group, '--to-timestamp', between, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).reread).toBe(WAVE);

    const globexPartitions = (await p.db.query(`SELECT DISTINCT kafka_partition AS p FROM events WHERE tenant_id = 'globex'`)).rows.map((x) => x.p);
    expect(globexPartitions).toHaveLength(1);
    const atTimestamp = await checkpoints();
    const t = await p.cli('reset', '--group', p.group, '--to-earliest', '--tenant', 'globex', '--json');
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out).partitions.map((x: { partition: number }) => x.partition)).toEqual(globexPartitions);
    const moved = await checkpoints();
    for (const [part, offset] of Object.entries(moved)) expect(offset).toBe(globexPartitions.includes(Number(part)) ? 0 : atTimestamp[part]);

    await p.startProcessor(0);
    await caughtUp();
    expect(await checkpoints()).toEqual(ends);
    expect(await store()).toEqual(before);
  });
});
