import type { KafkaConfig } from '@tributary/config/config';
import type { ConsumerLoop } from '@tributary/kafka/consumer-loop';
import { createKafka } from '@tributary/kafka/kafka-client';
import { metrics } from '@tributary/observability/metrics';
import type { CheckpointsRepository } from '@tributary/store/checkpoints.repository';

/**
 * Measures lag on a timer, independently of the loop: end offset of each owned partition minus
 * its Postgres checkpoint. A stuck loop therefore shows growing lag instead of a frozen value.
 */
export class LagMonitor {
  private readonly admin;
  private connected?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private reported = new Set<number>();

  constructor(private readonly kafka: KafkaConfig, private readonly loop: ConsumerLoop, private readonly checkpoints: CheckpointsRepository, private readonly onError: (e: Error) => void) {
    this.admin = createKafka(kafka).admin();
  }

  start(everyMs: number): void {
    const tick = () => this.measure().catch(this.onError).finally(() => {
      if (this.timer) this.timer = setTimeout(tick, everyMs).unref();
    });
    this.timer = setTimeout(tick, everyMs).unref();
  }

  async measure(): Promise<void> {
    const owned = this.loop.assignedPartitions();
    for (const p of this.reported) if (!owned.includes(p)) metrics.consumerLag.remove({ topic: this.kafka.topic, partition: String(p) });
    this.reported = new Set(owned);
    if (owned.length === 0) return;
    this.connected ??= this.admin.connect();
    await this.connected;
    const ends = await this.admin.fetchTopicOffsets(this.kafka.topic);
    const next = await this.checkpoints.load(this.kafka.topic, owned);
    for (const e of ends as { partition: number; high: string; low: string }[]) {
      if (!owned.includes(e.partition)) continue;
      const from = next.get(e.partition) ?? BigInt(e.low);
      const lag = BigInt(e.high) - from;
      metrics.consumerLag.set({ topic: this.kafka.topic, partition: String(e.partition) }, Number(lag > 0n ? lag : 0n));
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
  }
}
