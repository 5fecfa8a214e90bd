import { KafkaJS } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '@tributary/config/config';

/**
 * The one place that knows which Kafka client we use (@confluentinc/kafka-javascript, librdkafka
 * underneath, its KafkaJS-compatible API). Everything else talks to the small types below.
 */
export type Kafka = KafkaJS.Kafka;

export function createKafka(cfg: KafkaConfig): Kafka {
  return new KafkaJS.Kafka({
    'bootstrap.servers': cfg.brokers,
    'client.id': cfg.clientId,
    // librdkafka's own logs go through the KafkaJS-style logger; keep them to warnings and worse.
    kafkaJS: { logLevel: KafkaJS.logLevel.WARN },
  } as any);
}

/** Creates the events and dead-letter topics when they do not exist (idempotent). */
export async function ensureTopics(cfg: KafkaConfig): Promise<void> {
  const admin = createKafka(cfg).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [cfg.topic, cfg.deadLetterTopic].filter((t) => !existing.has(t));
    if (wanted.length === 0) return;
    await admin.createTopics({
      topics: wanted.map((topic) => ({
        topic,
        numPartitions: cfg.topicPartitions,
        // 0 = the broker's default.replication.factor (3 on the three-broker cluster).
        ...(cfg.replicationFactor > 0 ? { replicationFactor: cfg.replicationFactor } : {}),
      })),
    });
  } catch (e) {
    // Another instance may have created it between listTopics and createTopics.
    if (!/already exists/i.test(String((e as Error).message))) throw e;
  } finally {
    await admin.disconnect();
  }
}
