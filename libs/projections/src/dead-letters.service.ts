import type { Pool, PoolClient } from 'pg';
import { decodeEnvelope } from '@tributary/contracts/decode-envelope';
import { classifyFailure } from '@tributary/store/failure';
import type { EventEnvelope } from '@tributary/contracts/envelope';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { Queryable, withTenant } from '@tributary/store/database';
import { insertDeadLetters } from '@tributary/store/dead-letters';
import { AppendedEvent, archiveEvent, IncomingEvent, Judge } from '@tributary/store/event-store.writer';
import { projected } from './event-judge';
import { applyProjection, Projection } from './projection';

export interface DeadLetter {
  id: string;
  eventId: string | null;
  type: string | null;
  subject: string | null;
  stage: string;
  error: string;
  attempts: number;
  status: 'open' | 'resolved' | 'discarded';
  createdAt: string;
  updatedAt: string;
}

export interface DeadLetterFilter {
  type?: string;
  since?: string;
  status?: string;
  ids?: string[];
  limit: number;
  afterId?: string;
}

export type RetryOutcome =
  | { id: string; outcome: 'resolved'; released: number; blockedAgainBy?: string }
  | { id: string; outcome: 'still_failing'; attempts: number; error: string }
  | { id: string; outcome: 'discarded'; released: number; blockedAgainBy?: string };

const toDeadLetter = (r: any): DeadLetter => ({
  id: String(r.id),
  eventId: r.event_id,
  type: r.type,
  subject: r.subject,
  stage: r.stage,
  error: r.error,
  attempts: r.attempts,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

function envelopeOf(r: any): EventEnvelope {
  return {
    specversion: r.specversion,
    id: r.event_id,
    tenant: r.tenant_id,
    type: r.type,
    source: r.source,
    subject: r.subject,
    time: r.time.toISOString(),
    receivedAt: r.received_at.toISOString(),
    datacontenttype: r.datacontenttype,
    data: r.data,
    partitionkey: r.partition_key,
    extensions: r.extensions ?? {},
  };
}

const EVENT_COLUMNS = `tenant_id, event_id, type, source, subject, time, received_at, specversion, datacontenttype, data, extensions,
                       partition_key, kafka_partition, kafka_offset, traceparent`;

/**
 * Dead letters: listing, retry and discard. A retry re-runs the processor's checks (schemas and
 * projections as they are now); on success the event is applied and the events parked behind it
 * are released in order, until one of them fails and becomes the stream's new head.
 * Invariant: runs under the stream row lock, like the processor's batches, so release and
 * live processing of the same stream never interleave.
 */
export class DeadLettersService {
  constructor(private readonly pool: Pool, private readonly judge: Judge, private readonly projections: readonly Projection<any>[]) {}

  async list(tenant: string | null, f: DeadLetterFilter): Promise<DeadLetter[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (tenant) add('tenant_id = ?', tenant);
    if (f.status) add('status = ?', f.status);
    if (f.type) add('type = ?', f.type);
    if (f.since) add('created_at >= ?', f.since);
    if (f.ids?.length) add('id = ANY(?::bigint[])', f.ids);
    if (f.afterId) add('id > ?', f.afterId);
    params.push(f.limit);
    const sql = `SELECT * FROM dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.length}`;
    // Without a tenant (the CLI, as the tables' owner) every tenant's dead letters.
    const r = tenant ? await withTenant(this.pool, tenant, (tx) => tx.query(sql, params)) : await this.pool.query(sql, params);
    return r.rows.map(toDeadLetter);
  }

  retry(tenant: string, id: string): Promise<RetryOutcome> {
    return this.resolve(tenant, id, 'retry');
  }

  discard(tenant: string, id: string): Promise<RetryOutcome> {
    return this.resolve(tenant, id, 'discard');
  }

  // In the tenant's transaction: through the gateway, row-level security holds every statement
  // below (the release of parked events, the projection writes) to that tenant's rows.
  private resolve(tenant: string, id: string, action: 'retry' | 'discard'): Promise<RetryOutcome> {
    return withTenant(this.pool, tenant, async (tx) => {
      const dl = (await tx.query(`SELECT * FROM dead_letters WHERE id = $1 AND tenant_id = $2 AND status = 'open' FOR UPDATE`, [id, tenant])).rows[0];
      if (!dl) throw new TributaryError(ErrorCode.NotFound, `no open dead letter '${id}'`);
      if (!dl.event_id) {
        if (action === 'retry') throw new TributaryError(ErrorCode.Conflict, `dead letter '${id}' holds no decodable event; it can only be discarded`);
        await tx.query(`UPDATE dead_letters SET status = 'discarded', updated_at = now() WHERE id = $1`, [id]);
        return { id, outcome: 'discarded', released: 0 };
      }
      // Stage 'store': Postgres refused the event itself, so it is not in the event store. A retry
      // (after a fix: a migration corrected, a limit raised) stores it from the message text kept
      // in the dead letter; if Postgres still refuses, it stays a dead letter.
      const refused = dl.stage === 'store';
      const stream = dl.subject === null ? null : await lockStream(tx, tenant, dl.subject);
      let head: IncomingEvent | null = null;
      if (!refused) head = await loadEvent(tx, tenant, dl.event_id);
      else if (action === 'retry') {
        const stored = await storeRefused(tx, dl);
        if (!stored.ok) {
          const r = await tx.query(`UPDATE dead_letters SET attempts = attempts + 1, error = $2, updated_at = now() WHERE id = $1 RETURNING attempts`, [id, stored.error]);
          return { id, outcome: 'still_failing', attempts: r.rows[0].attempts, error: stored.error };
        }
        head = stored.event;
      }
      const applied: AppendedEvent[] = [];

      if (action === 'retry' && head) {
        const verdict = await this.judge(head, tx);
        if (!verdict.ok) {
          const r = await tx.query(
            `UPDATE dead_letters SET attempts = attempts + 1, stage = $2, error = $3, updated_at = now() WHERE id = $1 RETURNING attempts`,
            [id, verdict.stage, verdict.error],
          );
          return { id, outcome: 'still_failing', attempts: r.rows[0].attempts, error: verdict.error };
        }
        const sequence = stream ? ++stream.last : null;
        await setStatus(tx, head, 'processed', sequence);
        applied.push({ ...head, sequence });
        await tx.query(`UPDATE dead_letters SET status = 'resolved', attempts = attempts + 1, updated_at = now() WHERE id = $1`, [id]);
      } else {
        if (head) await setStatus(tx, head, 'discarded', null);
        await tx.query(`UPDATE dead_letters SET status = 'discarded', updated_at = now() WHERE id = $1`, [id]);
      }

      // Release the parked events in log order, until one fails again.
      let blockedAgainBy: string | undefined;
      let released = 0;
      if (stream) {
        const parked = await tx.query(
          `SELECT ${EVENT_COLUMNS} FROM events WHERE tenant_id = $1 AND subject = $2 AND status = 'parked' ORDER BY kafka_partition, kafka_offset`,
          [tenant, dl.subject],
        );
        for (const row of parked.rows) {
          const e = incomingOf(row);
          const verdict = await this.judge(e, tx);
          if (!verdict.ok) {
            const [row] = await insertDeadLetters(tx, [{
              tenant, eventId: e.envelope.id, type: e.envelope.type, subject: e.envelope.subject, stage: verdict.stage,
              error: verdict.error, payload: JSON.stringify(e.envelope), partition: e.partition, offset: e.offset.toString(),
            }]);
            blockedAgainBy = row.id;
            await setStatus(tx, e, 'dead_lettered', null);
            break;
          }
          const sequence = ++stream.last;
          await setStatus(tx, e, 'processed', sequence);
          applied.push({ ...e, sequence });
          released++;
        }
        await tx.query(`UPDATE streams SET last_sequence = $3, blocked_by = $4 WHERE tenant_id = $1 AND subject = $2`, [tenant, dl.subject, stream.last, blockedAgainBy ?? null]);
      }
      const events = applied.map(projected);
      for (const p of this.projections) await applyProjection(p, tx, events);
      return action === 'retry'
        ? { id, outcome: 'resolved', released, ...(blockedAgainBy ? { blockedAgainBy } : {}) }
        : { id, outcome: 'discarded', released, ...(blockedAgainBy ? { blockedAgainBy } : {}) };
    });
  }
}

/**
 * Stores a dead letter Postgres refused (stage 'store') in the event store, as dead-lettered,
 * from its message text; the refusal, when it comes again, is rolled back to a savepoint and
 * reported. Failures that are not the event's (Postgres down) propagate.
 */
async function storeRefused(tx: PoolClient, dl: any): Promise<{ ok: true; event: IncomingEvent } | { ok: false; error: string }> {
  const d = decodeEnvelope(Buffer.from(dl.payload, 'utf8'));
  if (!d.ok) return { ok: false, error: `the dead letter's payload is not an envelope: ${d.error}` };
  const event: IncomingEvent = { envelope: d.envelope, partition: dl.kafka_partition, offset: BigInt(dl.kafka_offset), traceparent: null, raw: d.raw };
  await tx.query('SAVEPOINT store_refused');
  try {
    await archiveEvent(tx, event, 'dead_lettered');
  } catch (e) {
    if (classifyFailure(e) !== 'permanent') throw e;
    await tx.query('ROLLBACK TO SAVEPOINT store_refused');
    return { ok: false, error: `Postgres refused the event: ${(e as Error).message}` };
  }
  await tx.query('RELEASE SAVEPOINT store_refused');
  return { ok: true, event };
}

async function lockStream(tx: Queryable, tenant: string, subject: string): Promise<{ last: number }> {
  const r = await tx.query(`SELECT last_sequence FROM streams WHERE tenant_id = $1 AND subject = $2 FOR UPDATE`, [tenant, subject]);
  return { last: Number(r.rows[0]?.last_sequence ?? 0) };
}

function incomingOf(row: any): IncomingEvent {
  return { envelope: envelopeOf(row), partition: row.kafka_partition, offset: BigInt(row.kafka_offset), traceparent: row.traceparent };
}

async function loadEvent(tx: Queryable, tenant: string, eventId: string): Promise<IncomingEvent> {
  const r = await tx.query(`SELECT ${EVENT_COLUMNS} FROM events WHERE tenant_id = $1 AND event_id = $2`, [tenant, eventId]);
  if (!r.rows[0]) throw new TributaryError(ErrorCode.NotFound, `event '${eventId}' is not in the event store`);
  return incomingOf(r.rows[0]);
}

async function setStatus(tx: Queryable, e: IncomingEvent, status: string, sequence: number | null): Promise<void> {
  // A new applied_seq: a running rebuild has scanned past this event's old number, and must see it again.
  await tx.query(`UPDATE events SET status = $3, sequence = $4, applied_seq = nextval('events_applied_seq') WHERE tenant_id = $1 AND event_id = $2 AND received_at = $5`, [
    e.envelope.tenant,
    e.envelope.id,
    status,
    sequence,
    e.envelope.receivedAt,
  ]);
}
