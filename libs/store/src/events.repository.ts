import type { Pool } from 'pg';
import { withTenant } from './database';

export interface StoredEvent {
  id: string;
  type: string;
  source: string;
  subject: string | null;
  time: string;
  specversion: string;
  datacontenttype: string | null;
  data: unknown;
  partitionkey?: string;
  status: string;
  partition: number;
  offset: number;
  sequence: number | null;
  receivedAt: string;
  traceId?: string;
  [extension: string]: unknown;
}

const COLUMNS = `event_id, type, source, subject, sequence, time, received_at, specversion, datacontenttype, data,
                 extensions, partition_key, kafka_partition, kafka_offset, status, traceparent`;

function toEvent(r: any): StoredEvent {
  return {
    ...(r.extensions ?? {}),
    id: r.event_id,
    type: r.type,
    source: r.source,
    subject: r.subject,
    time: r.time.toISOString(),
    specversion: r.specversion,
    datacontenttype: r.datacontenttype,
    data: r.data,
    ...(r.partition_key ? { partitionkey: r.partition_key } : {}),
    status: r.status,
    partition: r.kafka_partition,
    offset: Number(r.kafka_offset),
    sequence: r.sequence === null ? null : Number(r.sequence),
    receivedAt: r.received_at.toISOString(),
    // The trace id of the request that ingested it: paste into Jaeger's search.
    ...(r.traceparent ? { traceId: String(r.traceparent).split('-')[1] } : {}),
  };
}

export interface EventQuery {
  type?: string;
  subject?: string;
  from?: string;
  to?: string;
  limit: number;
  after?: { time: string; id: string };
}

export type Bucket = 'minute' | 'hour' | 'day';

/**
 * Read side of the event store and the counts projection; every query is scoped to one tenant,
 * by its WHERE clause and, for the gateway's role, by row-level security (withTenant).
 */
export class EventsRepository {
  constructor(private readonly pool: Pool) {}

  async get(tenant: string, id: string): Promise<StoredEvent | null> {
    // event_ids gives received_at, so the lookup prunes to one partition/chunk.
    const r = await withTenant(this.pool, tenant, (tx) =>
      tx.query(
        `SELECT ${COLUMNS} FROM events e
          WHERE e.tenant_id = $1 AND e.event_id = $2
            AND e.received_at = (SELECT received_at FROM event_ids WHERE tenant_id = $1 AND event_id = $2)`,
        [tenant, id],
      ),
    );
    return r.rows[0] ? toEvent(r.rows[0]) : null;
  }

  async list(tenant: string, q: EventQuery): Promise<StoredEvent[]> {
    const where = ['tenant_id = $1'];
    const params: unknown[] = [tenant];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (q.type) add('type = ?', q.type);
    if (q.subject) add('subject = ?', q.subject);
    if (q.from) add('time >= ?', q.from);
    if (q.to) add('time < ?', q.to);
    if (q.after) {
      params.push(q.after.time, q.after.id);
      where.push(`(time, event_id) > ($${params.length - 1}::timestamptz, $${params.length})`);
    }
    params.push(q.limit);
    const r = await withTenant(this.pool, tenant, (tx) =>
      tx.query(`SELECT ${COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY time, event_id LIMIT $${params.length}`, params),
    );
    return r.rows.map(toEvent);
  }

  async stream(tenant: string, subject: string, fromSequence: number, limit: number): Promise<StoredEvent[]> {
    const r = await withTenant(this.pool, tenant, (tx) =>
      tx.query(`SELECT ${COLUMNS} FROM events WHERE tenant_id = $1 AND subject = $2 AND sequence >= $3 ORDER BY sequence LIMIT $4`, [tenant, subject, fromSequence, limit]),
    );
    return r.rows.map(toEvent);
  }

  async counts(tenant: string, bucket: Bucket, q: { type?: string; from?: string; to?: string }) {
    const params: unknown[] = [tenant, bucket];
    const where = ['tenant_id = $1'];
    if (q.type) { params.push(q.type); where.push(`type = $${params.length}`); }
    if (q.from) { params.push(q.from); where.push(`bucket >= date_trunc($2, $${params.length}::timestamptz)`); }
    if (q.to) { params.push(q.to); where.push(`bucket < $${params.length}::timestamptz`); }
    const [r, dup] = await withTenant(this.pool, tenant, async (tx) => [
      await tx.query<{ time: Date; type: string; count: string }>(
        `SELECT date_trunc($2, bucket) AS time, type, sum(count)::bigint AS count
           FROM event_counts WHERE ${where.join(' AND ')}
          GROUP BY 1, 2 ORDER BY 1, 2`,
        params,
      ),
      await tx.query<{ count: string }>(`SELECT count FROM duplicate_counts WHERE tenant_id = $1`, [tenant]),
    ] as const);
    return {
      series: r.rows.map((row) => ({ time: row.time.toISOString(), type: row.type, count: Number(row.count) })),
      duplicates: Number(dup.rows[0]?.count ?? 0),
    };
  }
}
