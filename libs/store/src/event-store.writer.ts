import type { EventEnvelope } from '@tributary/contracts/envelope';
import type { PoolClient } from 'pg';
import { copyInto, copyLine } from './copy-text';
import type { Queryable } from './database';
import { memberText } from './json-member';
import { insertDeadLetters } from './dead-letters';

export interface IncomingEvent {
  envelope: EventEnvelope;
  partition: number;
  offset: bigint;
  traceparent: string | null;
  /**
   * The Kafka message value (the envelope's JSON text) when at hand: `data` is then stored from its
   * own text (memberText), which saves re-serialising ~1 KB per event and keeps numbers' digits.
   */
  raw?: string;
}

export interface AppendedEvent extends IncomingEvent {
  sequence: number | null;
}

/** Whether an event may be applied; a refusal dead-letters it (stage says which check refused). */
export type Verdict = { ok: true } | { ok: false; stage: string; error: string };
/** `db` is the transaction the event is judged in: lookups the judge makes go through it. */
export type Judge = (e: IncomingEvent, db: Queryable) => Verdict | Promise<Verdict>;

export interface AppendResult {
  /** Applied, in log order: these go to the projections. */
  appended: AppendedEvent[];
  parked: number;
  deadLettered: { event: IncomingEvent; stage: string; error: string }[];
  duplicates: number;
  duplicatesByTenant: Map<string, number>;
  /** Messages that are an already stored event re-read from its own offset (after a reset). */
  reread: number;
}

type Status = 'processed' | 'dead_lettered' | 'parked';
const key2 = (a: string, b: string) => `${a}\u0000${b}`;
const sorted = <T>(rows: T[], key: (r: T) => string) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/**
 * Appends a batch (in log order) to the event store inside the caller's transaction.
 * Invariants:
 *  - an event id is stored once per tenant (first occurrence in log order wins; later ones are
 *    counted as duplicates) — every stored event is archived, whatever its fate;
 *  - a stream (tenant + subject) whose head is dead-lettered is blocked: its later events are
 *    parked, unsequenced, until the head is retried or discarded (see dead-letters.ts);
 *  - each stream's applied events get sequence numbers 1, 2, 3 … in log order.
 */
export async function appendEvents(db: PoolClient, batch: IncomingEvent[], judge: Judge): Promise<AppendResult> {
  const empty: AppendResult = { appended: [], parked: 0, deadLettered: [], duplicates: 0, duplicatesByTenant: new Map(), reread: 0 };
  if (batch.length === 0) return empty;

  // 1. Idempotency: drop repeats inside the batch, then let event_ids say which ids are new.
  const seen = new Set<string>();
  const firsts: IncomingEvent[] = [];
  for (const e of batch) {
    const k = key2(e.envelope.tenant, e.envelope.id);
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
  const isNew = new Set(inserted.rows.map((r) => key2(r.tenant_id, r.event_id)));
  const fresh = firsts.filter((e) => isNew.has(key2(e.envelope.tenant, e.envelope.id)));

  // 2. Lock the streams this batch touches (created when new), in one order so batches cannot deadlock.
  //    The lock also serialises with a dead-letter retry releasing the same stream.
  const streamKeys = sorted(
    [...new Map(fresh.filter((e) => e.envelope.subject !== null).map((e) => [key2(e.envelope.tenant, e.envelope.subject!), e.envelope])).values()],
    (e) => key2(e.tenant, e.subject!),
  );
  const streams = new Map<string, { next: number; blockedBy: string | null; newlyBlocked: boolean; touched: boolean }>();
  if (streamKeys.length > 0) {
    const tenants = streamKeys.map((e) => e.tenant);
    const subjects = streamKeys.map((e) => e.subject!);
    // One round trip creates missing streams and locks all of them (in key order): ON CONFLICT DO
    // UPDATE locks the existing row and returns its latest committed version, as FOR UPDATE would.
    const rows = await db.query<{ tenant_id: string; subject: string; last_sequence: string; blocked_by: string | null }>(
      `INSERT INTO streams (tenant_id, subject, last_sequence) SELECT t, s, 0 FROM unnest($1::text[], $2::text[]) AS u(t, s)
       ON CONFLICT (tenant_id, subject) DO UPDATE SET last_sequence = streams.last_sequence
       RETURNING tenant_id, subject, last_sequence, blocked_by`,
      [tenants, subjects],
    );
    for (const r of rows.rows) {
      streams.set(key2(r.tenant_id, r.subject), { next: Number(r.last_sequence) + 1, blockedBy: r.blocked_by, newlyBlocked: false, touched: false });
    }
  }

  // 3. Decide each event's fate in log order.
  const statuses: { e: IncomingEvent; status: Status; sequence: number | null }[] = [];
  const deadLettered: AppendResult['deadLettered'] = [];
  const streamOf = (e: IncomingEvent) => (e.envelope.subject === null ? undefined : streams.get(key2(e.envelope.tenant, e.envelope.subject)));
  // Judged together, not one await per event: the judges' schema checks then go to the schema
  // worker as one message. An event of a stream blocked before this batch is parked unjudged.
  const judged = fresh.filter((e) => streamOf(e)?.blockedBy == null);
  const verdicts = new Map(await Promise.all(judged.map(async (e) => [e, await judge(e, db)] as const)));
  for (const e of fresh) {
    const stream = streamOf(e);
    if (stream && (stream.blockedBy !== null || stream.newlyBlocked)) {
      statuses.push({ e, status: 'parked', sequence: null });
      continue;
    }
    const verdict = verdicts.get(e)!;
    if (!verdict.ok) {
      deadLettered.push({ event: e, stage: verdict.stage, error: verdict.error });
      statuses.push({ e, status: 'dead_lettered', sequence: null });
      if (stream) stream.newlyBlocked = true;
      continue;
    }
    let sequence: number | null = null;
    if (stream) {
      sequence = stream.next++;
      stream.touched = true;
    }
    statuses.push({ e, status: 'processed', sequence });
  }

  // 4. Dead letters, and the streams they now block.
  const blockers = new Map<string, string>();
  if (deadLettered.length > 0) {
    const rows = await insertDeadLetters(
      db,
      deadLettered.map(({ event: e, stage, error }) => ({
        tenant: e.envelope.tenant, eventId: e.envelope.id, type: e.envelope.type, subject: e.envelope.subject,
        stage, error, payload: JSON.stringify(e.envelope), partition: e.partition, offset: e.offset.toString(),
      })),
    );
    // The first dead letter of a stream in this batch is its head; later ones are parked behind it.
    for (const row of rows) if (row.subject !== null && !blockers.has(key2(row.tenant_id!, row.subject))) blockers.set(key2(row.tenant_id!, row.subject), row.id);
  }
  // 5. The archive rows, whatever their fate, and the streams' new heads: one statement.
  const changed = sorted([...streams.entries()].filter(([, s]) => s.touched || s.newlyBlocked), ([k]) => k);
  if (statuses.length > 0 || changed.length > 0) await insertEvents(db, statuses, changed.map(([k, s]) => ({ key: k, last: s.next - 1, blockedBy: blockers.get(k) ?? null })));

  // 6. Duplicates are counted per tenant, never applied. A message that is the stored event itself
  //    (same partition and offset: re-read after `tributary reset`) is no client's duplicate.
  const freshOffsets = new Set(fresh.map((e) => e.offset));
  const repeats = batch.filter((e) => !freshOffsets.has(e.offset));
  const reread = await storedAt(db, repeats);
  const dupes = new Map<string, number>();
  for (const e of repeats) {
    if (reread.has(key2(key2(e.envelope.tenant, e.envelope.id), `${e.partition}:${e.offset}`))) continue;
    dupes.set(e.envelope.tenant, (dupes.get(e.envelope.tenant) ?? 0) + 1);
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

  const appended = statuses.filter((s) => s.status === 'processed').map((s) => ({ ...s.e, sequence: s.sequence }));
  return {
    appended,
    parked: statuses.filter((s) => s.status === 'parked').length,
    deadLettered,
    duplicates: repeats.length - reread.size,
    reread: reread.size,
    duplicatesByTenant: dupes,
  };
}

/** Keys (tenant, id, partition:offset) of the given messages that are stored at exactly that offset. */
async function storedAt(db: Queryable, messages: IncomingEvent[]): Promise<Set<string>> {
  if (messages.length === 0) return new Set();
  const r = await db.query<{ tenant_id: string; event_id: string; kafka_partition: number; kafka_offset: string }>(
    `SELECT e.tenant_id, e.event_id, e.kafka_partition, e.kafka_offset FROM events e
       JOIN unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(t, id, r) ON e.tenant_id = u.t AND e.event_id = u.id AND e.received_at = u.r`,
    [messages.map((m) => m.envelope.tenant), messages.map((m) => m.envelope.id), messages.map((m) => m.envelope.receivedAt)],
  );
  const stored = new Set(r.rows.map((x) => key2(key2(x.tenant_id, x.event_id), `${x.kafka_partition}:${x.kafka_offset}`)));
  return new Set(messages.map((m) => key2(key2(m.envelope.tenant, m.envelope.id), `${m.partition}:${m.offset}`)).filter((k) => stored.has(k)));
}


interface StreamHead {
  key: string;
  last: number;
  blockedBy: string | null;
}

const EVENT_COLUMNS = [
  'tenant_id', 'event_id', 'type', 'source', 'subject', 'sequence', 'time', 'received_at', 'specversion', 'datacontenttype',
  'data', 'extensions', 'partition_key', 'kafka_partition', 'kafka_offset', 'traceparent', 'status',
] as const;

/** The stored `data`: the message's own text when at hand (see memberText), NULL for JSON null. */
function dataText(e: IncomingEvent): string | null {
  const text = e.raw === undefined ? JSON.stringify(e.envelope.data ?? null) : memberText(e.raw, 'data');
  return text === undefined || text === 'null' ? null : text;
}

/**
 * One event into the archive with `status`, outside a batch (a dead letter Postgres refused,
 * retried). An INSERT, not COPY: the retry may run through the gateway, as a role held to
 * row-level security, and Postgres refuses COPY FROM into a table whose policies apply.
 */
export async function archiveEvent(tx: PoolClient, e: IncomingEvent, status: Status): Promise<void> {
  const v = e.envelope;
  await tx.query(
    `INSERT INTO events (${EVENT_COLUMNS.join(', ')})
     VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10::jsonb, $11::jsonb, $12, $13, $14, $15, $16)`,
    [
      v.tenant, v.id, v.type, v.source, v.subject, v.time, v.receivedAt, v.specversion, v.datacontenttype,
      dataText(e), Object.keys(v.extensions ?? {}).length ? JSON.stringify(v.extensions) : null, v.partitionkey ?? null,
      e.partition, e.offset.toString(), e.traceparent, status,
    ],
  );
}

/** The archive rows by COPY (the cheapest way in), then the streams' new heads. */
async function insertEvents(tx: PoolClient, rows: { e: IncomingEvent; status: Status; sequence: number | null }[], heads: StreamHead[]): Promise<void> {
  await copyInto(
    tx,
    'events',
    EVENT_COLUMNS,
    rows.map(({ e, status, sequence }) => {
      const v = e.envelope;
      return copyLine([
        v.tenant, v.id, v.type, v.source, v.subject, sequence, v.time, v.receivedAt, v.specversion, v.datacontenttype,
        dataText(e), Object.keys(v.extensions ?? {}).length ? JSON.stringify(v.extensions) : null, v.partitionkey,
        e.partition, e.offset, e.traceparent, status,
      ]);
    }),
  );
  if (heads.length === 0) return;
  await tx.query(
    `UPDATE streams s SET last_sequence = u.last, blocked_by = coalesce(u.blocked, s.blocked_by)
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(t, sub, last, blocked)
      WHERE s.tenant_id = u.t AND s.subject = u.sub`,
    [heads.map((h) => h.key.split('\u0000')[0]), heads.map((h) => h.key.split('\u0000')[1]), heads.map((h) => h.last), heads.map((h) => h.blockedBy)],
  );
}
