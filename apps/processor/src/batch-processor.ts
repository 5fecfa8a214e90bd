import type { Span } from '@opentelemetry/api';
import type { Pool } from 'pg';
import type { EventEnvelope } from '@tributary/contracts/envelope';
import { mayHoldUnstorable, unstorableText } from '@tributary/contracts/storable';
import type { PartitionBatch, RawMessage } from '@tributary/kafka/consumer-loop';
import { eventJudge, projected } from '@tributary/projections/event-judge';
import { applyProjection, Projection } from '@tributary/projections/projection';
import { SchemasRepository } from '@tributary/store/schemas.repository';
import { CheckpointsRepository } from '@tributary/store/checkpoints.repository';
import { inTransaction } from '@tributary/store/database';
import { insertDeadLetters } from '@tributary/store/dead-letters';
import { classifyFailure, failureStage } from '@tributary/store/failure';
import { AppendedEvent, appendEvents, IncomingEvent, Judge } from '@tributary/store/event-store.writer';
import { metrics, tenantLabel } from '@tributary/observability/metrics';
import { contextFromHeaders, inSpan, linkTo, SpanKind, trace, tracer } from '@tributary/observability/tracing';

export interface BatchOutcome {
  skipped: number;
  appended: number;
  duplicates: number;
  deadLettered: number;
  parked: number;
}

/** A dead-lettered message as published to the DLQ topic after the batch committed. */
export interface DeadLetterCopy {
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/** Decodes one Kafka message; an error when it is not an envelope the gateway would have written. */
export function decodeEnvelope(m: RawMessage): { ok: true; envelope: EventEnvelope; raw: string } | { ok: false; error: string } {
  if (!m.value) return { ok: false, error: 'empty message value' };
  const raw = m.value.toString('utf8');
  let v: any;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return { ok: false, error: `value is not JSON: ${(e as Error).message}` };
  }
  for (const f of ['tenant', 'id', 'type', 'time', 'receivedAt', 'source']) {
    if (typeof v?.[f] !== 'string' || v[f] === '') return { ok: false, error: `envelope field '${f}' is missing or not a string` };
  }
  if (Number.isNaN(Date.parse(v.time)) || Number.isNaN(Date.parse(v.receivedAt))) return { ok: false, error: 'envelope time is not a date' };
  // Text Postgres cannot store would fail the batch forever. The gateway refuses it; from other
  // producers it is kept (escaped) in dead_letters.payload only.
  const unstorable = mayHoldUnstorable(raw) ? unstorableText(v) : null;
  if (unstorable) return { ok: false, error: `${unstorable.at || '/'} ${unstorable.message}: Postgres cannot store it` };
  return {
    ok: true,
    raw,
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

/** A message's value as text Postgres can store (U+0000 escaped), for dead_letters.payload and the DLQ copy. */
const storableValue = (m: RawMessage) => (m.value?.toString('utf8') ?? '').replace(/\u0000/g, '\\u0000');

/** The DLQ copy of a dead letter: the original message with where it came from and why it failed. */
function deadLetterCopy(batch: PartitionBatch, offset: string, key: string | null, value: string, stage: string, error: string, event?: { tenant: string; id: string }): DeadLetterCopy {
  return {
    key,
    value,
    headers: {
      'tributary-topic': batch.topic, 'tributary-partition': String(batch.partition), 'tributary-offset': offset,
      'tributary-stage': stage, 'tributary-error': error.slice(0, 1000), ...(event ? { tenant: event.tenant, id: event.id } : {}),
    },
  };
}

/**
 * Applies one partition batch in ONE transaction: event store, projections, dead letters and
 * the checkpoint. A crash anywhere replays the batch; the checkpoint makes the replay skip what
 * was applied, so each event is applied exactly once.
 */
export class BatchProcessor {
  private readonly judge: Judge;

  constructor(
    private readonly pool: Pool,
    private readonly checkpoints: CheckpointsRepository,
    private readonly projections: readonly Projection<any>[],
    schemas: SchemasRepository,
    /** Called after the commit; must not throw (the dead_letters table already holds them). */
    private readonly onDeadLetters: (copies: DeadLetterCopy[]) => Promise<void> = async () => undefined,
  ) {
    this.judge = eventJudge(schemas, projections);
  }

  /**
   * Applies the batch. When Postgres refuses it for a reason inside the data (a permanent
   * failure), the batch is split in halves applied in order, each in its own transaction, until
   * the refused event is alone: that one is dead-lettered and its stream parked, the rest goes on.
   * Transient failures propagate: the consumer loop retries the whole batch with backoff.
   */
  async process(batch: PartitionBatch): Promise<BatchOutcome> {
    try {
      return await this.processWhole(batch);
    } catch (e) {
      if (classifyFailure(e) !== 'permanent') throw e;
      if (batch.messages.length === 1) return this.deadLetterRefused(batch, e);
      metrics.batchBisections.inc();
      const mid = Math.ceil(batch.messages.length / 2);
      const a = await this.process({ ...batch, messages: batch.messages.slice(0, mid) });
      const b = await this.process({ ...batch, messages: batch.messages.slice(mid) });
      return { skipped: a.skipped + b.skipped, appended: a.appended + b.appended, duplicates: a.duplicates + b.duplicates, deadLettered: a.deadLettered + b.deadLettered, parked: a.parked + b.parked };
    }
  }

  /**
   * The one event Postgres refuses: kept in dead_letters only (the event store cannot hold it),
   * its id claimed so a redelivery is a duplicate, and its stream blocked so later events park.
   */
  private async deadLetterRefused(batch: PartitionBatch, failure: unknown): Promise<BatchOutcome> {
    const m = batch.messages[0];
    const stage = failureStage(failure);
    const error = `${stage === 'store' ? 'Postgres refused the event: ' : ''}${(failure as Error).message}`;
    const outcome: BatchOutcome = { skipped: 0, appended: 0, duplicates: 0, deadLettered: 0, parked: 0 };
    const copy = await inTransaction(this.pool, async (tx) => {
      const next = await this.checkpoints.lock(tx, batch.topic, batch.partition);
      if (BigInt(m.offset) < next) {
        outcome.skipped = 1;
        return null;
      }
      const d = decodeEnvelope(m);
      const e = d.ok ? d.envelope : null;
      const payload = d.ok ? JSON.stringify(d.envelope) : storableValue(m);
      if (e) {
        await tx.query('SAVEPOINT claim');
        await tx
          .query(`INSERT INTO event_ids (tenant_id, event_id, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [e.tenant, e.id, e.receivedAt])
          .then(() => tx.query('RELEASE SAVEPOINT claim'), () => tx.query('ROLLBACK TO SAVEPOINT claim'));
      }
      const [row] = await insertDeadLetters(tx, [
        { tenant: e?.tenant ?? null, eventId: e?.id ?? null, type: e?.type ?? null, subject: e?.subject ?? null, stage, error, payload, partition: batch.partition, offset: m.offset },
      ]);
      if (e?.subject) {
        await tx.query(
          `INSERT INTO streams (tenant_id, subject, last_sequence, blocked_by) VALUES ($1, $2, 0, $3)
           ON CONFLICT (tenant_id, subject) DO UPDATE SET blocked_by = coalesce(streams.blocked_by, EXCLUDED.blocked_by)`,
          [e.tenant, e.subject, row.id],
        );
      }
      await this.checkpoints.advance(tx, batch.topic, batch.partition, BigInt(m.offset) + 1n);
      outcome.deadLettered = 1;
      return deadLetterCopy(batch, m.offset, m.key?.toString('utf8') ?? null, payload, stage, error, e ?? undefined);
    });
    if (copy) {
      metrics.eventsDeadLettered.inc({ stage });
      await this.onDeadLetters([copy]);
    }
    return outcome;
  }

  private async processWhole(batch: PartitionBatch): Promise<BatchOutcome> {
    const first = batch.messages[0].offset;
    const last = batch.messages[batch.messages.length - 1].offset;
    // The batch span links to every event it carries (bounded), and its SQL spans nest under it.
    const links = batch.messages.slice(0, 128).flatMap((m) => linkTo(contextFromHeaders(m.headers)));
    const attributes = {
      ...messagingAttributes(batch.topic, batch.partition),
      'messaging.batch.message_count': batch.messages.length,
      'tributary.first_offset': first,
      'tributary.last_offset': last,
    };
    return inSpan(`process ${batch.topic}`, { kind: SpanKind.CONSUMER, links, attributes }, async (span) => {
      const started = new Date();
      const { outcome, appended, duplicatesByTenant, deadLetterStages, deadLetterCopies, write } = await this.apply(batch);
      const committed = new Date();
      traceEvents(batch.topic, appended, span, started, write, committed);
      recordMetrics(batch, appended, duplicatesByTenant, deadLetterStages, started, committed);
      span.setAttributes({ 'tributary.appended': outcome.appended, 'tributary.duplicates': outcome.duplicates, 'tributary.skipped': outcome.skipped });
      if (deadLetterCopies.length) await this.onDeadLetters(deadLetterCopies);
      return outcome;
    });
  }

  private async apply(batch: PartitionBatch): Promise<{
    outcome: BatchOutcome;
    appended: AppendedEvent[];
    duplicatesByTenant: Map<string, number>;
    deadLetterStages: string[];
    deadLetterCopies: DeadLetterCopy[];
    write: Window;
  }> {
    return inTransaction(this.pool, async (tx) => {
      const next = await this.checkpoints.lock(tx, batch.topic, batch.partition);
      const todo = batch.messages.filter((m) => BigInt(m.offset) >= next);
      const outcome: BatchOutcome = { skipped: batch.messages.length - todo.length, appended: 0, duplicates: 0, deadLettered: 0, parked: 0 };
      const write: Window = { start: new Date(), end: new Date() };
      if (todo.length === 0) return { outcome, appended: [], duplicatesByTenant: new Map(), deadLetterStages: [], deadLetterCopies: [], write };

      const incoming: IncomingEvent[] = [];
      const poison: { m: RawMessage; error: string }[] = [];
      for (const m of todo) {
        const d = decodeEnvelope(m);
        if (d.ok) incoming.push({ envelope: d.envelope, partition: batch.partition, offset: BigInt(m.offset), traceparent: m.headers.traceparent ?? null, raw: d.raw });
        else poison.push({ m, error: d.error });
      }

      write.start = new Date();
      const { appended, duplicates, duplicatesByTenant, deadLettered, parked } = await appendEvents(tx, incoming, this.judge);
      write.end = new Date();
      const events = appended.map(projected);
      for (const p of this.projections) await applyProjection(p, tx, events);

      await insertDeadLetters(
        tx,
        poison.map((p) => ({ tenant: null, eventId: null, type: null, subject: null, stage: 'decode', error: p.error, payload: storableValue(p.m), partition: batch.partition, offset: p.m.offset })),
      );

      await this.checkpoints.advance(tx, batch.topic, batch.partition, BigInt(todo[todo.length - 1].offset) + 1n);
      return {
        deadLetterStages: [...poison.map(() => 'decode'), ...deadLettered.map((d) => d.stage)],
        deadLetterCopies: [
          ...poison.map((p) => deadLetterCopy(batch, p.m.offset, p.m.key?.toString('utf8') ?? null, storableValue(p.m), 'decode', p.error)),
          ...deadLettered.map((d) => deadLetterCopy(batch, d.event.offset.toString(), d.event.envelope.tenant, JSON.stringify(d.event.envelope), d.stage, d.error, d.event.envelope)),
        ],
        outcome: { ...outcome, appended: appended.length, duplicates, deadLettered: poison.length + deadLettered.length, parked },
        appended,
        duplicatesByTenant,
        write,
      };
    });
  }
}

function recordMetrics(batch: PartitionBatch, appended: AppendedEvent[], dupes: Map<string, number>, stages: string[], started: Date, committed: Date) {
  metrics.batchSize.observe(batch.messages.length);
  metrics.batchDuration.observe((committed.getTime() - started.getTime()) / 1000);
  const perTenant = new Map<string, number>();
  for (const e of appended) {
    perTenant.set(e.envelope.tenant, (perTenant.get(e.envelope.tenant) ?? 0) + 1);
    metrics.endToEnd.observe(Math.max(0, committed.getTime() - Date.parse(e.envelope.receivedAt)) / 1000);
  }
  for (const [t, n] of perTenant) metrics.eventsProcessed.inc({ tenant: tenantLabel(t) }, n);
  for (const [t, n] of dupes) metrics.eventsDuplicate.inc({ tenant: tenantLabel(t) }, n);
  for (const stage of stages) metrics.eventsDeadLettered.inc({ stage });
}

interface Window {
  start: Date;
  end: Date;
}

function messagingAttributes(topic: string, partition: number) {
  return {
    'messaging.system': 'kafka',
    'messaging.operation.type': 'process',
    'messaging.destination.name': topic,
    'messaging.destination.partition.id': String(partition),
  };
}

/**
 * One CONSUMER span per event as a child of the ingest request's context (carried in the Kafka
 * headers), with the event store write under it, so one trace shows HTTP → produce → process → SQL.
 * The times are those of the batch transaction the event was applied in.
 */
function traceEvents(topic: string, appended: AppendedEvent[], batchSpan: Span, started: Date, write: Window, committed: Date): void {
  for (const e of appended) {
    const parent = e.traceparent ? contextFromHeaders({ traceparent: e.traceparent }) : undefined;
    if (!parent) continue;
    const span = tracer().startSpan(
      `process ${topic}`,
      {
        kind: SpanKind.CONSUMER,
        startTime: started,
        links: [{ context: batchSpan.spanContext() }],
        attributes: {
          ...messagingAttributes(topic, e.partition),
          'messaging.kafka.offset': Number(e.offset),
          'messaging.message.id': e.envelope.id,
          'tributary.tenant': e.envelope.tenant,
          'tributary.event_id': e.envelope.id,
          ...(e.sequence !== null ? { 'tributary.sequence': e.sequence } : {}),
        },
      },
      parent,
    );
    tracer()
      .startSpan(
        'INSERT events',
        {
          kind: SpanKind.CLIENT,
          startTime: write.start,
          attributes: { 'db.system.name': 'postgresql', 'db.system': 'postgresql', 'db.operation.name': 'INSERT', 'db.collection.name': 'events', 'tributary.event_id': e.envelope.id },
        },
        trace.setSpan(parent, span),
      )
      .end(write.end);
    span.end(committed);
  }
}
