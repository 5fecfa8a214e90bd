import type { EventEnvelope } from '@tributary/contracts/envelope';
import type { Queryable } from './database';

export interface IncomingEvent {
  envelope: EventEnvelope;
  partition: number;
  offset: bigint;
  traceparent: string | null;
}

export interface AppendedEvent extends IncomingEvent {
  sequence: number | null;
}

export interface AppendResult {
  appended: AppendedEvent[];
  duplicates: number;
  duplicatesByTenant: Map<string, number>;
}

// A batch comes from one partition, so its offsets identify its messages.
const byKey = <T>(rows: T[], key: (r: T) => string) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/**
 * Appends a batch (in log order) to the event store inside the caller's transaction.
 * Invariants: an event id is stored once per tenant (first occurrence in log order wins; later
 * ones are counted as duplicates); each subject's events get sequence numbers 1, 2, 3 … in log order.
 */
export async function appendEvents(db: Queryable, batch: IncomingEvent[]): Promise<AppendResult> {
  if (batch.length === 0) return { appended: [], duplicates: 0, duplicatesByTenant: new Map() };

  // 1. Drop repeats inside the batch, then ask the idempotency table which ids are new.
  const seen = new Set<string>();
  const firsts: IncomingEvent[] = [];
  for (const e of batch) {
    const k = `${e.envelope.tenant}\u0000${e.envelope.id}`;
    if (!seen.has(k)) {
      seen.add(k);
      firsts.push(e);
    }
  }
  const inserted = await db.query<{ tenant_id: string; event_id: string }>(
    `INSERT INTO event_ids (tenant_id, event_id, received_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
     ON CONFLICT DO NOTHING
     RETURNING tenant_id, event_id`,
    [firsts.map((e) => e.envelope.tenant), firsts.map((e) => e.envelope.id), firsts.map((e) => e.envelope.receivedAt)],
  );
  const isNew = new Set(inserted.rows.map((r) => `${r.tenant_id}\u0000${r.event_id}`));
  const fresh = firsts.filter((e) => isNew.has(`${e.envelope.tenant}\u0000${e.envelope.id}`));

  // 2. Reserve a contiguous range of sequence numbers per stream, then number in log order.
  const perStream = new Map<string, { tenant: string; subject: string; n: number }>();
  for (const e of fresh) {
    if (e.envelope.subject === null) continue;
    const k = `${e.envelope.tenant}\u0000${e.envelope.subject}`;
    const s = perStream.get(k);
    if (s) s.n++;
    else perStream.set(k, { tenant: e.envelope.tenant, subject: e.envelope.subject, n: 1 });
  }
  const next = new Map<string, number>();
  if (perStream.size > 0) {
    const streams = byKey([...perStream.entries()], ([k]) => k).map(([, s]) => s);
    const reserved = await db.query<{ tenant_id: string; subject: string; last_sequence: string }>(
      `INSERT INTO streams (tenant_id, subject, last_sequence)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
       ON CONFLICT (tenant_id, subject) DO UPDATE SET last_sequence = streams.last_sequence + EXCLUDED.last_sequence
       RETURNING tenant_id, subject, last_sequence`,
      [streams.map((s) => s.tenant), streams.map((s) => s.subject), streams.map((s) => s.n)],
    );
    for (const r of reserved.rows) {
      const k = `${r.tenant_id}\u0000${r.subject}`;
      next.set(k, Number(r.last_sequence) - perStream.get(k)!.n + 1);
    }
  }
  const appended: AppendedEvent[] = fresh.map((e) => {
    if (e.envelope.subject === null) return { ...e, sequence: null };
    const k = `${e.envelope.tenant}\u0000${e.envelope.subject}`;
    const seq = next.get(k)!;
    next.set(k, seq + 1);
    return { ...e, sequence: seq };
  });

  // 3. The archive rows themselves.
  if (appended.length > 0) {
    const col = <T>(f: (e: AppendedEvent) => T) => appended.map(f);
    await db.query(
      `INSERT INTO events (tenant_id, event_id, type, source, subject, sequence, time, received_at, specversion,
                           datacontenttype, data, extensions, partition_key, kafka_partition, kafka_offset, traceparent)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::timestamptz[],
                            $8::timestamptz[], $9::text[], $10::text[], $11::jsonb[], $12::jsonb[], $13::text[], $14::int[],
                            $15::bigint[], $16::text[])`,
      [
        col((e) => e.envelope.tenant),
        col((e) => e.envelope.id),
        col((e) => e.envelope.type),
        col((e) => e.envelope.source),
        col((e) => e.envelope.subject),
        col((e) => e.sequence),
        col((e) => e.envelope.time),
        col((e) => e.envelope.receivedAt),
        col((e) => e.envelope.specversion),
        col((e) => e.envelope.datacontenttype),
        col((e) => (e.envelope.data === null || e.envelope.data === undefined ? null : JSON.stringify(e.envelope.data))),
        col((e) => (Object.keys(e.envelope.extensions ?? {}).length ? JSON.stringify(e.envelope.extensions) : null)),
        col((e) => e.envelope.partitionkey),
        col((e) => e.partition),
        col((e) => e.offset.toString()),
        col((e) => e.traceparent),
      ],
    );
  }

  // 4. Duplicates are counted per tenant, never applied.
  const appendedAt = new Set(appended.map((e) => e.offset));
  const dupes = new Map<string, number>();
  for (const e of batch) {
    if (!appendedAt.has(e.offset)) dupes.set(e.envelope.tenant, (dupes.get(e.envelope.tenant) ?? 0) + 1);
  }
  if (dupes.size > 0) {
    const tenants = [...dupes.keys()].sort();
    await db.query(
      `INSERT INTO duplicate_counts (tenant_id, count, last_seen_at)
       SELECT t, c, now() FROM unnest($1::text[], $2::bigint[]) AS u(t, c)
       ON CONFLICT (tenant_id) DO UPDATE SET count = duplicate_counts.count + EXCLUDED.count, last_seen_at = now()`,
      [tenants, tenants.map((t) => dupes.get(t))],
    );
  }
  return { appended, duplicates: batch.length - appended.length, duplicatesByTenant: dupes };
}
