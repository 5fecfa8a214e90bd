import type { Span } from '@opentelemetry/api';
import type { Pool } from 'pg';
import { decodeEnvelope } from '@tributary/contracts/decode-envelope';
import type { PartitionBatch, RawMessage } from '@tributary/kafka/consumer-loop';
import { eventJudge, projected } from '@tributary/projections/event-judge';
import { applyProjection, Projection } from '@tributary/projections/projection';
import { SchemasRepository } from '@tributary/store/schemas.repository';
import { CheckpointsRepository } from '@tributary/store/checkpoints.repository';
import { inTransaction } from '@tributary/store/database';
import { insertDeadLetters } from '@tributary/store/dead-letters';
import { classifyFailure, failureStage, PoisonEventError } from '@tributary/store/failure';
import { AppendedEvent, appendEvents, IncomingEvent, Judge } from '@tributary/store/event-store.writer';
import { metrics, tenantLabel } from '@tributary/observability/metrics';
import { contextFromHeaders, inSpan, linkTo, SpanKind, trace, tracer } from '@tributary/observability/tracing';

/** Consecutive same-SQLSTATE refusals (from several tenants) that make a deploy fault. */
const DEPLOY_FAULT_AFTER = 3;

/** Transient by construction (no SQLSTATE of its own): the consumer loop retries with backoff. */
export class DeployFaultError extends Error {
  override readonly name = 'DeployFaultError';
}

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
      const outcome = await this.processWhole(batch);
      if (outcome.appended > 0) this.refusals = undefined;
      return outcome;
    } catch (e) {
      if (classifyFailure(e) !== 'permanent') throw e;
      if (batch.messages.length === 1) {
        this.suspectDeployFault(batch, e);
        return this.deadLetterRefused(batch, e);
      }
      metrics.batchBisections.inc();
      const mid = Math.ceil(batch.messages.length / 2);
      const a = await this.process({ ...batch, messages: batch.messages.slice(0, mid) });
      const b = await this.process({ ...batch, messages: batch.messages.slice(mid) });
      return { skipped: a.skipped + b.skipped, appended: a.appended + b.appended, duplicates: a.duplicates + b.duplicates, deadLettered: a.deadLettered + b.deadLettered, parked: a.parked + b.parked };
    }
  }

  /** Refusals with one SQLSTATE since the last batch that applied anything, and whose events they were. */
  private refusals?: { code: string; count: number; tenants: Set<string> };

  /**
   * Postgres refusing one event after another with the same SQLSTATE, for more than one tenant, is
   * not bad data but a bad deploy (a migration's constraint, a changed column): throw a transient
   * failure instead of dead-lettering everything, so the partition pauses, readiness says so, and
   * the batch applies once the deploy is fixed. One tenant's bad events alone never trip this:
   * they cannot stall the others.
   */
  private suspectDeployFault(batch: PartitionBatch, failure: unknown): void {
    const code = String((failure as { code?: unknown }).code ?? '');
    if (!code || failure instanceof PoisonEventError) return;
    const d = decodeEnvelope(batch.messages[0].value);
    const tenant = d.ok ? d.envelope.tenant : '';
    if (this.refusals?.code !== code) this.refusals = { code, count: 0, tenants: new Set() };
    this.refusals.count++;
    this.refusals.tenants.add(tenant);
    if (this.refusals.count >= DEPLOY_FAULT_AFTER && this.refusals.tenants.size >= 2) {
      throw new DeployFaultError(`Postgres refused ${this.refusals.count} events in a row with SQLSTATE ${code}, from ${this.refusals.tenants.size} tenants: treated as a deploy fault, not bad data (last: ${(failure as Error).message})`);
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
      const d = decodeEnvelope(m.value);
      const e = d.ok ? d.envelope : null;
      // The message's own text (decodable means storable): a retry after a fix stores it exactly.
      const payload = d.ok ? d.raw : storableValue(m);
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
        const d = decodeEnvelope(m.value);
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
