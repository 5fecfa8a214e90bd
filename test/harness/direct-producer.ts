import { createKafka } from '../../libs/kafka/src/kafka-client';
import type { Platform } from './platform';

/**
 * Writes envelopes straight to a platform's topic, as another producer would, past the gateway's
 * checks: the way to put events the gateway refuses (a purchase without an amount, say) in front
 * of the processor, so they become dead letters.
 */
export class DirectProducer {
  private readonly producer;

  constructor(private readonly p: Platform) {
    const kafka = createKafka({ brokers: process.env.KAFKA_BROKERS!, topic: p.topic, deadLetterTopic: `${p.topic}.dlq`, topicPartitions: 1, replicationFactor: 0, clientId: 'test-direct' });
    this.producer = kafka.producer();
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }

  /** Events of `tenant` (each needs at least `id` and `type`), keyed by tenant as the gateway keys them. */
  async send(tenant: string, events: Record<string, unknown>[]): Promise<void> {
    const now = new Date().toISOString();
    await this.producer.send({
      topic: this.p.topic,
      messages: events.map((e) => ({ key: tenant, value: JSON.stringify({ specversion: '1.0', tenant, source: '/direct', subject: null, time: now, receivedAt: now, data: null, ...e }) })),
    });
  }
}
