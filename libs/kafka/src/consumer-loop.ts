import { KafkaJS } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '@tributary/config/config';
import { createKafka } from './kafka-client';

export interface RawMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

export interface PartitionBatch {
  topic: string;
  partition: number;
  messages: RawMessage[];
}

/** Where the next offset to read lives (Postgres), per partition; absent = never processed. */
export interface CheckpointSource {
  load(topic: string, partitions: number[]): Promise<Map<number, bigint>>;
}

export interface ConsumerLoopOptions {
  kafka: KafkaConfig;
  groupId: string;
  batchSize: number;
  partitionsConcurrently: number;
  sessionTimeoutMs: number;
  handle: (batch: PartitionBatch) => Promise<void>;
  checkpoints: CheckpointSource;
  onError?: (event: string, fields: Record<string, unknown>) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The processor's consumer loop: per-partition, in-order batches with manual offsets.
 * Invariants:
 *  - on assignment each partition starts at the checkpoint stored in Postgres (the truth);
 *  - a batch is retried (backoff, never skipped) until `handle` succeeds or the partition is revoked;
 *  - the Kafka offset is committed only after `handle` succeeded, and is advisory.
 */
export class ConsumerLoop {
  private readonly consumer: KafkaJS.Consumer;
  private running = false;
  /** Last time the loop finished a batch or polled an empty assignment: liveness for health. */
  lastProgressAt = Date.now();
  batchesInFlight = 0;

  constructor(private readonly opts: ConsumerLoopOptions) {
    this.consumer = createKafka(opts.kafka).consumer({
      'group.id': opts.groupId,
      'enable.auto.commit': false,
      'auto.offset.reset': 'earliest',
      'partition.assignment.strategy': 'cooperative-sticky',
      'js.consumer.max.batch.size': opts.batchSize,
      'fetch.wait.max.ms': 50,
      'session.timeout.ms': opts.sessionTimeoutMs,
      'heartbeat.interval.ms': Math.max(1000, Math.floor(opts.sessionTimeoutMs / 3)),
      rebalance_cb: (err: { code: number }, assignment: { topic: string; partition: number }[]) => this.onRebalance(err, assignment),
    } as any);
  }

  private async onRebalance(err: { code: number }, assignment: { topic: string; partition: number }[]) {
    if (err.code !== KafkaJS.ErrorCodes.ERR__ASSIGN_PARTITIONS || assignment.length === 0) return undefined;
    // Returning the assignment with offsets makes the client start each partition there.
    const byTopic = new Map<string, number[]>();
    for (const tp of assignment) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
    // librdkafka-style entries: the offset is a number here, not the KafkaJS-style string.
    const withOffsets: { topic: string; partition: number; offset?: number }[] = [];
    for (const [topic, partitions] of byTopic) {
      const stored = await this.opts.checkpoints.load(topic, partitions);
      for (const partition of partitions) {
        const next = stored.get(partition);
        withOffsets.push(next === undefined ? { topic, partition } : { topic, partition, offset: Number(next) });
      }
    }
    return withOffsets;
  }

  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.opts.kafka.topic] });
    this.running = true;
    await this.consumer.run({
      partitionsConsumedConcurrently: this.opts.partitionsConcurrently,
      eachBatch: async ({ batch, isRunning, isStale }) => {
        if (batch.messages.length === 0) return;
        const messages: RawMessage[] = batch.messages.map((m: any) => ({
          offset: m.offset,
          key: m.key ?? null,
          value: m.value ?? null,
          headers: decodeHeaders(m.headers),
          timestamp: m.timestamp,
        }));
        this.batchesInFlight++;
        try {
          await this.handleWithRetry({ topic: batch.topic, partition: batch.partition, messages }, () => isRunning() && !isStale());
        } finally {
          this.batchesInFlight--;
        }
        this.lastProgressAt = Date.now();
        const next = (BigInt(messages[messages.length - 1].offset) + 1n).toString();
        await this.consumer
          .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
          .catch((e: Error) => this.opts.onError?.('kafka_commit_failed', { partition: batch.partition, error: e.message }));
      },
    });
  }

  private async handleWithRetry(batch: PartitionBatch, stillOwned: () => boolean): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.handle(batch);
        return;
      } catch (e) {
        this.opts.onError?.('batch_failed', {
          partition: batch.partition,
          first_offset: batch.messages[0].offset,
          attempt,
          error: (e as Error).message,
        });
        if (!this.running || !stillOwned()) throw e;
        // Exponential backoff with full jitter, capped: a dependency outage must not spin.
        await sleep(Math.random() * Math.min(5000, 100 * 2 ** Math.min(attempt, 6)));
      }
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.consumer.disconnect();
  }
}

function decodeHeaders(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined && one !== null) out[k] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
  }
  return out;
}
