import { KafkaJS } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '@tributary/config/config';
import { EventEnvelope, kafkaKeyOf } from '@tributary/contracts/envelope';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { metrics } from '@tributary/observability/metrics';
import { createKafka } from './kafka-client';

export const RETRY_AFTER_SECONDS = 5;

/**
 * Publishes envelopes with acks=all on an idempotent producer.
 * Invariant: publish() resolves only after every message was acknowledged by the in-sync replicas.
 */
export class EventProducer {
  private readonly producer: KafkaJS.Producer;
  private connected = false;

  /** `bufferMb` bounds the bytes queued for the brokers: when they do not answer, memory stays bounded and sends fail at once. */
  constructor(private readonly cfg: KafkaConfig, deliveryTimeoutMs: number, bufferMb = 64) {
    this.producer = createKafka(cfg).producer({
      'enable.idempotence': true,
      acks: -1,
      'linger.ms': 5,
      'compression.type': 'lz4',
      // A write the brokers cannot take within this time fails: the request answers 503.
      'message.timeout.ms': deliveryTimeoutMs,
      'socket.connection.setup.timeout.ms': Math.min(deliveryTimeoutMs, 10000),
      'queue.buffering.max.kbytes': bufferMb * 1024,
    } as any);
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  /** `trace` holds W3C trace-context headers (traceparent, tracestate) for every message. */
  async publish(events: EventEnvelope[], trace: Record<string, string> = {}): Promise<void> {
    if (!this.connected) throw new TributaryError(ErrorCode.BrokerUnavailable, 'the gateway is not connected to Kafka yet', [], RETRY_AFTER_SECONDS);
    metrics.producerInflight.inc(events.length);
    try {
      await this.producer.send({
        topic: this.cfg.topic,
        messages: events.map((e) => ({
          key: kafkaKeyOf(e),
          value: JSON.stringify(e),
          headers: {
            tenant: e.tenant,
            type: e.type,
            id: e.id,
            ...trace,
          },
        })),
      });
    } catch (e) {
      throw new TributaryError(
        ErrorCode.BrokerUnavailable,
        `Kafka did not acknowledge the write: ${(e as Error).message}`,
        [],
        RETRY_AFTER_SECONDS,
      );
    } finally {
      metrics.producerInflight.dec(events.length);
    }
  }

  /** Copies of dead-lettered messages for consumers of the DLQ topic (the dead_letters table is the truth). */
  async publishDeadLetters(items: { key: string | null; value: string; headers: Record<string, string> }[]): Promise<void> {
    if (items.length === 0) return;
    await this.producer.send({ topic: this.cfg.deadLetterTopic, messages: items.map((i) => ({ key: i.key, value: i.value, headers: i.headers })) });
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}
