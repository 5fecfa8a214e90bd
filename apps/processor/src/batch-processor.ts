import type { Pool } from 'pg';
import type { EventEnvelope } from '@tributary/contracts/envelope';
import type { PartitionBatch, RawMessage } from '@tributary/kafka/consumer-loop';
import { applyProjection, ProjectedEvent, Projection } from '@tributary/projections/projection';
import { CheckpointsRepository } from '@tributary/store/checkpoints.repository';
import { inTransaction } from '@tributary/store/database';
import { appendEvents, IncomingEvent } from '@tributary/store/event-store.writer';

export interface BatchOutcome {
  skipped: number;
  appended: number;
  duplicates: number;
  deadLettered: number;
}

/** Decodes one Kafka message; null when it is not an envelope the gateway would have written. */
export function decodeEnvelope(m: RawMessage): { ok: true; envelope: EventEnvelope } | { ok: false; error: string } {
  if (!m.value) return { ok: false, error: 'empty message value' };
  let v: any;
  try {
    v = JSON.parse(m.value.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `value is not JSON: ${(e as Error).message}` };
  }
  for (const f of ['tenant', 'id', 'type', 'time', 'receivedAt', 'source']) {
    if (typeof v?.[f] !== 'string' || v[f] === '') return { ok: false, error: `envelope field '${f}' is missing or not a string` };
  }
  if (Number.isNaN(Date.parse(v.time)) || Number.isNaN(Date.parse(v.receivedAt))) return { ok: false, error: 'envelope time is not a date' };
  return {
    ok: true,
    envelope: {
      specversion: '1.0',
      id: v.id,
      tenant: v.tenant,
      type: v.type,
      source: v.source,
      subject: typeof v.subject === 'string' ? v.subject : null,
      time: v.time,
      receivedAt: v.receivedAt,
      datacontenttype: v.datacontenttype ?? null,
      data: v.data ?? null,
      partitionkey: v.partitionkey ?? null,
      extensions: v.extensions ?? {},
    },
  };
}

/**
 * Applies one partition batch in ONE transaction: event store, projections, dead letters and
 * the checkpoint. A crash anywhere replays the batch; the checkpoint makes the replay skip what
 * was applied, so each event is applied exactly once.
 */
export class BatchProcessor {
  constructor(
    private readonly pool: Pool,
    private readonly checkpoints: CheckpointsRepository,
    private readonly projections: readonly Projection<any>[],
  ) {}

  async process(batch: PartitionBatch): Promise<BatchOutcome> {
    return inTransaction(this.pool, async (tx) => {
      const next = await this.checkpoints.lock(tx, batch.topic, batch.partition);
      const todo = batch.messages.filter((m) => BigInt(m.offset) >= next);
      const outcome: BatchOutcome = { skipped: batch.messages.length - todo.length, appended: 0, duplicates: 0, deadLettered: 0 };
      if (todo.length === 0) return outcome;

      const incoming: IncomingEvent[] = [];
      const poison: { m: RawMessage; error: string }[] = [];
      for (const m of todo) {
        const d = decodeEnvelope(m);
        if (d.ok) incoming.push({ envelope: d.envelope, partition: batch.partition, offset: BigInt(m.offset), traceparent: m.headers.traceparent ?? null });
        else poison.push({ m, error: d.error });
      }

      const { appended, duplicates } = await appendEvents(tx, incoming);
      const projected: ProjectedEvent[] = appended.map((e) => ({
        tenant: e.envelope.tenant,
        id: e.envelope.id,
        type: e.envelope.type,
        subject: e.envelope.subject,
        sequence: e.sequence,
        time: new Date(e.envelope.time),
        data: e.envelope.data,
      }));
      for (const p of this.projections) await applyProjection(p, tx, projected);

      if (poison.length > 0) {
        await tx.query(
          `INSERT INTO dead_letters (stage, error, payload, kafka_partition, kafka_offset)
           SELECT 'decode', * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])`,
          [poison.map((p) => p.error), poison.map((p) => p.m.value?.toString('utf8') ?? ''), poison.map(() => batch.partition), poison.map((p) => p.m.offset)],
        );
      }

      await this.checkpoints.advance(tx, batch.topic, batch.partition, BigInt(todo[todo.length - 1].offset) + 1n);
      return { ...outcome, appended: appended.length, duplicates, deadLettered: poison.length };
    });
  }
}
