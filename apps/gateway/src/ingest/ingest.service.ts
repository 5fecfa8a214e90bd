import { Inject, Injectable } from '@nestjs/common';
import type { GatewayConfig } from '@tributary/config/config';
import type { Counter } from 'prom-client';
import { v7 as uuidv7 } from 'uuid';
import { decodeIngest, INGEST_LIMITS } from '@tributary/contracts/decode-ingest';
import { EventEnvelope } from '@tributary/contracts/envelope';
import { ErrorCode, FieldError, TributaryError } from '@tributary/contracts/errors';
import { dataErrors } from '@tributary/contracts/event-rules';
import { validateEvent, Validated } from '@tributary/contracts/validate-event';
import { SchemasRepository } from '@tributary/store/schemas.repository';
import { EventProducer } from '@tributary/kafka/event-producer';
import { metrics, tenantLabel } from '@tributary/observability/metrics';
import { inSpan, SpanKind, traceHeaders } from '@tributary/observability/tracing';
import { GATEWAY_CONFIG } from '../tokens';
import { RateLimiter } from './rate-limiter';

export type ItemResult =
  | { index: number; id: string; status: 'accepted' }
  | { index: number; id?: string; status: 'rejected'; error: { code: string; message: string; errors?: FieldError[] } };

export type IngestAnswer =
  | { status: 202; body: { id: string; status: 'accepted' } }
  | { status: 202 | 422; body: { accepted: number; rejected: number; results: ItemResult[] } };

@Injectable()
export class IngestService {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly producer: EventProducer,
    private readonly schemas: SchemasRepository,
    @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig,
  ) {
    this.limiter = new RateLimiter(cfg.tenantRate, cfg.tenantBurst);
  }

  private readonly accepted = new Map<string, Counter.Internal>();

  /** The accepted-events counter of a tenant, its label child looked up once. */
  private acceptedCounter(tenant: string): Counter.Internal {
    let c = this.accepted.get(tenant);
    if (!c) {
      if (this.accepted.size >= 10000) this.accepted.clear();
      this.accepted.set(tenant, (c = metrics.eventsAccepted.labels({ tenant: tenantLabel(tenant) })));
    }
    return c;
  }

  /** Envelope rules, the tenant's JSON Schema for the type (cached), then the platform's business rules; with field paths. */
  private async validate(tenant: string, raw: unknown, path: string, cloudEvents: boolean): Promise<Validated> {
    const v = validateEvent(raw, path, { cloudEvents });
    if (!v.ok) return v;
    const errors = await dataErrors(tenant, v.event.type, await this.schemas.get(tenant, v.event.type), v.event.data, `${path}/data`);
    return errors.length ? { ok: false, errors } : v;
  }

  /** A PRODUCER span under the HTTP request; its context travels in every message's headers. */
  private publish(tenant: string, envelopes: EventEnvelope[]): Promise<void> {
    const attributes = {
      'messaging.system': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.destination.name': this.cfg.kafka.topic,
      'messaging.batch.message_count': envelopes.length,
      'tributary.tenant': tenant,
      // Searchable in Jaeger by tag; a batch lists its first ids only to bound the span's size.
      'tributary.event_id': envelopes.length === 1 ? envelopes[0].id : envelopes.slice(0, 20).map((e) => e.id).join(','),
    };
    return inSpan(`send ${this.cfg.kafka.topic}`, { kind: SpanKind.PRODUCER, attributes }, () => this.producer.publish(envelopes, traceHeaders()));
  }

  /**
   * Validates every event, stamps tenant, id and times, and answers only after Kafka acknowledged
   * the accepted ones (acks=all). Invalid events of a batch are reported; the valid ones still go.
   */
  async ingest(tenant: string, headers: Record<string, string | string[] | undefined>, body: Buffer): Promise<IngestAnswer> {
    try {
      const answer = await this.decodeValidatePublish(tenant, headers, body);
      const accepted = 'accepted' in answer.body && typeof answer.body.accepted === 'number' ? answer.body.accepted : 1;
      if (accepted > 0) this.acceptedCounter(tenant).inc(accepted);
      if ('results' in answer.body) {
        for (const r of answer.body.results) if (r.status === 'rejected') metrics.eventsRejected.inc({ tenant: tenantLabel(tenant), reason: r.error.code });
      }
      return answer;
    } catch (e) {
      const reason = e instanceof TributaryError ? e.code : 'internal';
      metrics.eventsRejected.inc({ tenant: tenantLabel(tenant), reason });
      throw e;
    }
  }

  private async decodeValidatePublish(tenant: string, headers: Record<string, string | string[] | undefined>, body: Buffer): Promise<IngestAnswer> {
    const decoded = decodeIngest(headers, body);
    const receivedAt = new Date().toISOString();
    const results: ItemResult[] = [];
    const envelopes: EventEnvelope[] = [];

    // All at once: the events' schema checks go to the schema worker together.
    const validated = await Promise.all(decoded.items.map((item) => (item.bytes > INGEST_LIMITS.eventBytes ? null : this.validate(tenant, item.raw, item.path, decoded.cloudEvents))));
    for (const [index, item] of decoded.items.entries()) {
      const v = validated[index];
      if (v === null) {
        const message = `event is ${item.bytes} bytes; the limit is ${INGEST_LIMITS.eventBytes}`;
        if (!decoded.batch) throw new TributaryError(ErrorCode.EventTooLarge, message);
        results.push({ index, status: 'rejected', error: { code: ErrorCode.EventTooLarge, message } });
        continue;
      }
      if (!v.ok) {
        if (!decoded.batch) throw new TributaryError(ErrorCode.ValidationFailed, v.errors.map((e) => `${e.path} ${e.message}`).join('; '), v.errors);
        const id = (item.raw as { id?: unknown })?.id;
        results.push({
          index,
          ...(typeof id === 'string' ? { id } : {}),
          status: 'rejected',
          error: { code: ErrorCode.ValidationFailed, message: v.errors.map((e) => `${e.path} ${e.message}`).join('; '), errors: v.errors },
        });
        continue;
      }
      const e = v.event;
      // Written out, not `{ ...e, tenant, id, time, receivedAt }`: the spread redefining id and time
      // was the costliest line of the ingest path in the CPU profile. Same key order, so the same JSON.
      const envelope: EventEnvelope = {
        specversion: e.specversion,
        id: e.id ?? uuidv7(),
        type: e.type,
        source: e.source,
        subject: e.subject,
        time: e.time ?? receivedAt,
        datacontenttype: e.datacontenttype,
        data: e.data,
        partitionkey: e.partitionkey,
        extensions: e.extensions,
        tenant,
        receivedAt,
      };
      envelopes.push(envelope);
      results.push({ index, id: envelope.id, status: 'accepted' });
    }

    if (envelopes.length > 0) {
      const wait = this.limiter.take(tenant, envelopes.length);
      if (wait > 0) {
        throw new TributaryError(ErrorCode.RateLimited, `tenant '${tenant}' is over its rate of ${this.cfg.tenantRate} events/s; retry in ${wait} s`, [], wait);
      }
      await this.publish(tenant, envelopes);
    }

    if (!decoded.batch) return { status: 202, body: { id: envelopes[0].id, status: 'accepted' } };
    const accepted = envelopes.length;
    return { status: accepted > 0 ? 202 : 422, body: { accepted, rejected: results.length - accepted, results } };
  }
}
