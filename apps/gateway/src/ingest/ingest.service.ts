import { Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { decodeIngest, INGEST_LIMITS } from '@tributary/contracts/decode-ingest';
import { EventEnvelope } from '@tributary/contracts/envelope';
import { ErrorCode, FieldError, TributaryError } from '@tributary/contracts/errors';
import { validateEvent } from '@tributary/contracts/validate-event';
import { EventProducer } from '@tributary/kafka/event-producer';

export type ItemResult =
  | { index: number; id: string; status: 'accepted' }
  | { index: number; id?: string; status: 'rejected'; error: { code: string; message: string; errors?: FieldError[] } };

export type IngestAnswer =
  | { status: 202; body: { id: string; status: 'accepted' } }
  | { status: 202 | 422; body: { accepted: number; rejected: number; results: ItemResult[] } };

@Injectable()
export class IngestService {
  constructor(private readonly producer: EventProducer) {}

  /**
   * Validates every event, stamps tenant, id and times, and answers only after Kafka acknowledged
   * the accepted ones (acks=all). Invalid events of a batch are reported; the valid ones still go.
   */
  async ingest(tenant: string, headers: Record<string, string | string[] | undefined>, body: Buffer, traceparent?: string): Promise<IngestAnswer> {
    const decoded = decodeIngest(headers, body);
    const receivedAt = new Date().toISOString();
    const results: ItemResult[] = [];
    const envelopes: EventEnvelope[] = [];

    decoded.items.forEach((item, index) => {
      if (item.bytes > INGEST_LIMITS.eventBytes) {
        const message = `event is ${item.bytes} bytes; the limit is ${INGEST_LIMITS.eventBytes}`;
        if (!decoded.batch) throw new TributaryError(ErrorCode.EventTooLarge, message);
        results.push({ index, status: 'rejected', error: { code: ErrorCode.EventTooLarge, message } });
        return;
      }
      const v = validateEvent(item.raw, item.path, { cloudEvents: decoded.cloudEvents });
      if (!v.ok) {
        if (!decoded.batch) throw new TributaryError(ErrorCode.ValidationFailed, v.errors.map((e) => `${e.path} ${e.message}`).join('; '), v.errors);
        const id = (item.raw as { id?: unknown })?.id;
        results.push({
          index,
          ...(typeof id === 'string' ? { id } : {}),
          status: 'rejected',
          error: { code: ErrorCode.ValidationFailed, message: v.errors.map((e) => `${e.path} ${e.message}`).join('; '), errors: v.errors },
        });
        return;
      }
      const e = v.event;
      const envelope: EventEnvelope = { ...e, tenant, id: e.id ?? uuidv7(), time: e.time ?? receivedAt, receivedAt };
      envelopes.push(envelope);
      results.push({ index, id: envelope.id, status: 'accepted' });
    });

    if (envelopes.length > 0) await this.producer.publish(envelopes, { traceparent });

    if (!decoded.batch) return { status: 202, body: { id: envelopes[0].id, status: 'accepted' } };
    const accepted = envelopes.length;
    return { status: accepted > 0 ? 202 : 422, body: { accepted, rejected: results.length - accepted, results } };
  }
}
