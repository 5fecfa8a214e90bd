import { KafkaJS } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '@tributary/config/config';
import { metrics } from '@tributary/observability/metrics';
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
  /** Last time the loop was handed a batch or finished one. */
  lastProgressAt = Date.now();
  /** Partition → when its batch in progress started; a long-running entry means a stuck loop. */
  private readonly inFlightSince = new Map<string, number>();
  /** Partitions whose batch is failing and being retried now (transient failures). */
  private readonly retrying = new Map<number, { since: number; attempts: number; error: string }>();

  constructor(private readonly opts: ConsumerLoopOptions) {
    this.consumer = createKafka(opts.kafka).consumer({
      'group.id': opts.groupId,
      'enable.auto.commit': false,
      'auto.offset.reset': 'earliest',
      'partition.assignment.strategy': 'cooperative-sticky',
      'js.consumer.max.batch.size': opts.batchSize,
      // The broker answers a fetch when 256 KiB are ready or after 50 ms: a caught-up consumer
      // otherwise fetches once per produce request, which costs broker and processor CPU per
      // fetch and hands the processor tiny batches (see docs/performance.md, e2e-latency).
      'fetch.wait.max.ms': 50,
      'fetch.min.bytes': 256 * 1024,
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

  private connected = false;

  /** Safe to call again after a failure (start-up retries): each step runs once. */
  async start(): Promise<void> {
    if (this.running) return;
    if (!this.connected) {
      await this.consumer.connect();
      this.connected = true;
    }
    await this.consumer.subscribe({ topics: [this.opts.kafka.topic] });
    this.running = true;
    await this.consumer.run({
      partitionsConsumedConcurrently: this.opts.partitionsConcurrently,
      eachBatch: async ({ batch, isRunning, isStale }) => {
        this.markProgress();
        if (batch.messages.length === 0) return;
        const messages: RawMessage[] = batch.messages.map((m: any) => ({
          offset: m.offset,
          key: m.key ?? null,
          value: m.value ?? null,
          headers: decodeHeaders(m.headers),
          timestamp: m.timestamp,
        }));
        const key = `${batch.topic}:${batch.partition}`;
        this.inFlightSince.set(key, Date.now());
        try {
          await this.handleWithRetry({ topic: batch.topic, partition: batch.partition, messages }, () => isRunning() && !isStale());
        } finally {
          this.inFlightSince.delete(key);
        }
        this.markProgress();
        const next = (BigInt(messages[messages.length - 1].offset) + 1n).toString();
        await this.consumer
          .commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }])
          .catch((e: Error) => this.opts.onError?.('kafka_commit_failed', { partition: batch.partition, error: e.message }));
      },
    });
  }

  private markProgress() {
    this.lastProgressAt = Date.now();
    metrics.loopLastProgress.set(this.lastProgressAt / 1000);
  }

  /** Partitions of the events topic this instance owns now. */
  assignedPartitions(): number[] {
    if (!this.running) return [];
    // The client returns one {topic, partition} entry per assigned partition.
    return this.consumer
      .assignment()
      .filter((a) => a.topic === this.opts.kafka.topic)
      .map((a) => a.partition);
  }

  /**
   * For readiness: whether the loop runs, how long its oldest batch in progress has taken, and
   * the partitions paused on a failing batch (degraded from the first failed attempt).
   */
  health(): { running: boolean; oldestBatchMs: number; retrying: { partition: number; attempts: number; sinceMs: number; error: string }[] } {
    const now = Date.now();
    const oldest = Math.min(now, ...this.inFlightSince.values());
    const retrying = [...this.retrying].map(([partition, r]) => ({ partition, attempts: r.attempts, sinceMs: now - r.since, error: r.error }));
    return { running: this.running, oldestBatchMs: now - oldest, retrying };
  }

  private async handleWithRetry(batch: PartitionBatch, stillOwned: () => boolean): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.opts.handle(batch);
          return;
        } catch (e) {
          metrics.batchFailures.inc();
          const r = this.retrying.get(batch.partition);
          this.retrying.set(batch.partition, { since: r?.since ?? Date.now(), attempts: attempt, error: (e as Error).message });
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
    } finally {
      this.retrying.delete(batch.partition);
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
