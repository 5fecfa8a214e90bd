import type { Queryable } from '@tributary/store/database';
import type { Projection, ProjectedEvent } from './projection';

/** Count of events per tenant × type × minute of event time. */
export type CountsDelta = Map<string, { tenant: string; type: string; bucket: string; count: number }>;

export function minuteBucket(t: Date): string {
  const d = new Date(t.getTime());
  d.setUTCSeconds(0, 0);
  return d.toISOString();
}

// TRIBUTARY_TEST_COUNTS_VERSION lets a test run a "new release" of this code (the CLI) beside an
// old one (the processor) without shipping a second counts implementation.
const version = Number(process.env.TRIBUTARY_TEST_COUNTS_VERSION ?? 1);

export const countsProjection: Projection<CountsDelta> = {
  name: 'counts',
  version,
  table: 'event_counts',
  scope: { tenantColumn: 'tenant_id', timeColumn: 'bucket', timeUnitMs: 60_000 },
  handles: '*',
  init: () => new Map(),
  evolve(delta, e: ProjectedEvent) {
    const bucket = minuteBucket(e.time);
    const key = `${e.tenant}\u0000${e.type}\u0000${bucket}`;
    const row = delta.get(key);
    if (row) row.count++;
    else delta.set(key, { tenant: e.tenant, type: e.type, bucket, count: 1 });
    return delta;
  },
  async write(db: Queryable, delta, table) {
    if (delta.size === 0) return;
    // Sorted so concurrent batches lock rows in one order and cannot deadlock.
    const rows = [...delta.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    await db.query(
      `INSERT INTO ${table} AS c (tenant_id, type, bucket, count)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[])
       ON CONFLICT (tenant_id, type, bucket) DO UPDATE SET count = c.count + EXCLUDED.count`,
      [rows.map((r) => r.tenant), rows.map((r) => r.type), rows.map((r) => r.bucket), rows.map((r) => r.count)],
    );
  },
};
