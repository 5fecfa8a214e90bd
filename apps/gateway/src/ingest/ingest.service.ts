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
import { TenantLimits } from '../http/tenant-limits';

export type ItemResult =
  | { index: number; id: string; status: 'accepted' }
  | { index: number; id?: string; status: 'rejected'; error: { code: string; message: string; errors?: FieldError[] } };

export type IngestAnswer =
  | { status: 202; body: { id: string; status: 'accepted' } }
  | { status: 202 | 422; body: { accepted: number; rejected: number; results: ItemResult[] } };

/**
 * Ingest's rate limit, in events, is taken before the work it pays for: one token when the
 * request arrives (ingest.http.ts, before the body is read: the least a request can carry), the
 * rest as soon as the body is parsed and the number of events is known, before validation, schema
 * lookups and the produce. Every event pays, accepted or rejected: a tenant sending invalid
 * events spends its own rate, not the gateway's CPU.
 */
@Injectable()
export class IngestService {
  constructor(
    private readonly producer: EventProducer,
    private readonly schemas: SchemasRepository,
    private readonly limits: TenantLimits,
    @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig,
  ) {}

  // Keyed by the metric label, not the tenant: at most TRIBUTARY_METRICS_TENANTS + 1 entries.
  private readonly accepted = new Map<string, Counter.Internal>();

  /** The accepted-events counter of a tenant, its label child looked up once. */
  private acceptedCounter(tenant: string): Counter.Internal {
    const label = tenantLabel(tenant);
    let c = this.accepted.get(label);
    if (!c) this.accepted.set(label, (c = metrics.eventsAccepted.labels({ tenant: label })));
    return c;
  }

  /** The request's first token, taken from the headers alone; throws 429. */
  admit(tenant: string): void {
    try {
      this.limits.take('ingest', tenant, 1);
    } catch (e) {
      metrics.eventsRejected.inc({ tenant: tenantLabel(tenant), reason: ErrorCode.RateLimited });
      throw e;
    }
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
    // admit() took the first event's token; every further event pays before it is validated.
    if (decoded.items.length > 1) this.limits.take('ingest', tenant, decoded.items.length - 1);
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

    if (envelopes.length > 0) await this.publish(tenant, envelopes);

    if (!decoded.batch) return { status: 202, body: { id: envelopes[0].id, status: 'accepted' } };
    const accepted = envelopes.length;
    return { status: accepted > 0 ? 202 : 422, body: { accepted, rejected: results.length - accepted, results } };
  }
}
