import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import type { ProcessorConfig } from '@tributary/config/config';
import { ensureTopics } from '@tributary/kafka/kafka-client';
import { ConsumerLoop } from '@tributary/kafka/consumer-loop';
import { retryUntil } from '@tributary/kafka/retry';
import { EventProducer } from '@tributary/kafka/event-producer';
import { Logger } from '@tributary/observability/logger';
import { PROJECTIONS } from '@tributary/projections/registry';
import { CheckpointsRepository } from '@tributary/store/checkpoints.repository';
import { SchemasRepository } from '@tributary/store/schemas.repository';
import { BatchProcessor, DeadLetterCopy } from './batch-processor';
import { LagMonitor } from './lag-monitor';
import { PG_POOL, PROCESSOR_CONFIG } from './tokens';

/** Hosts the consumer loop in Nest's lifecycle: start after bootstrap, drain before exit. */
@Injectable()
export class ProcessorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('processor');
  private loop?: ConsumerLoop;
  private dlq?: EventProducer;
  private lag?: LagMonitor;

  constructor(@Inject(PROCESSOR_CONFIG) private readonly cfg: ProcessorConfig, @Inject(PG_POOL) private readonly pool: Pool) {}

  async onApplicationBootstrap(): Promise<void> {
    const retry = (attempt: number, e: Error) => this.log.warn('kafka_unavailable_at_start', { attempt, error: e.message });
    await retryUntil('creating topics', () => ensureTopics(this.cfg.kafka), 5 * 60_000, retry);
    // Plain Postgres: make sure the coming months' event partitions exist (Timescale needs none).
    // Retried like Kafka: a processor (re)started while Postgres restarts must wait, not exit 1
    // (the chaos run caught restarted processors dying here during its Postgres crash).
    const pgRetry = (attempt: number, e: Error) => this.log.warn('postgres_unavailable_at_start', { attempt, error: e.message });
    await retryUntil('ensuring event partitions', () => this.pool.query(
      `SELECT tributary_ensure_event_partitions(3) WHERE to_regproc('tributary_ensure_event_partitions') IS NOT NULL`,
    ), 5 * 60_000, pgRetry);
    const checkpoints = new CheckpointsRepository(this.pool, this.cfg.groupId);
    const dlq = new EventProducer(this.cfg.kafka, 30000);
    await retryUntil('connecting the dead-letter producer', () => dlq.connect(), 5 * 60_000, retry);
    this.dlq = dlq;
    const publish = async (copies: DeadLetterCopy[]) => {
      await dlq.publishDeadLetters(copies).catch((e: Error) => this.log.warn('dlq_publish_failed', { count: copies.length, error: e.message }));
    };
    const processor = new BatchProcessor(this.pool, checkpoints, PROJECTIONS, new SchemasRepository(this.pool), publish);
    this.loop = new ConsumerLoop({
      kafka: this.cfg.kafka,
      groupId: this.cfg.groupId,
      batchSize: this.cfg.batchSize,
      partitionsConcurrently: this.cfg.partitionsConcurrently,
      sessionTimeoutMs: this.cfg.sessionTimeoutMs,
      checkpoints,
      handle: async (batch) => {
        const started = Date.now();
        const o = await processor.process(batch);
        this.log.debug('batch_applied', { partition: batch.partition, first_offset: batch.messages[0].offset, size: batch.messages.length, ...o, ms: Date.now() - started });
        if (o.deadLettered > 0) this.log.warn('events_dead_lettered', { partition: batch.partition, count: o.deadLettered });
      },
      onError: (event, fields) => this.log.warn(event, fields),
    });
    const loop = this.loop;
    await retryUntil('joining the consumer group', () => loop.start(), 5 * 60_000, retry);
    this.log.info('processor_started', { topic: this.cfg.kafka.topic, group: this.cfg.groupId });
    this.lag = new LagMonitor(this.cfg.kafka, loop, checkpoints, (e) => this.log.warn('lag_measure_failed', { error: e.message }));
    this.lag.start(this.cfg.lagIntervalMs);
  }

  /** Null until the loop has started. */
  loopHealth() {
    return this.loop?.health() ?? null;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.lag?.stop();
    await this.loop?.stop();
    await this.dlq?.disconnect();
    this.log.info('processor_stopped');
  }
}
