import type { Queryable } from './database';

/** A row for `dead_letters`; tenant/event fields are null for a message that could not be decoded. */
export interface NewDeadLetter {
  tenant: string | null;
  eventId: string | null;
  type: string | null;
  subject: string | null;
  stage: string;
  error: string;
  /** The original message (the envelope's JSON, or the raw value for a decode failure). */
  payload: string;
  partition: number;
  offset: string;
}

/** The one writer of dead letters (processor batches, batch bisection, dead-letter retries). */
export async function insertDeadLetters(db: Queryable, rows: NewDeadLetter[]): Promise<{ id: string; tenant_id: string | null; subject: string | null }[]> {
  if (rows.length === 0) return [];
  const col = <T>(f: (r: NewDeadLetter) => T) => rows.map(f);
  const r = await db.query<{ id: string; tenant_id: string | null; subject: string | null }>(
    `INSERT INTO dead_letters (tenant_id, event_id, type, subject, stage, error, payload, kafka_partition, kafka_offset)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::bigint[])
     RETURNING id, tenant_id, subject`,
    [col((x) => x.tenant), col((x) => x.eventId), col((x) => x.type), col((x) => x.subject), col((x) => x.stage), col((x) => x.error), col((x) => x.payload), col((x) => x.partition), col((x) => x.offset)],
  );
  return r.rows.map((x) => ({ ...x, id: String(x.id) }));
}
