import { KafkaConsumer, Message } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '@tributary/config/config';

/** Polls (of up to 1 s) returning nothing before a read gives up on reaching its range's end. */
const EMPTY_POLLS = 10;

export interface LogMessage {
  offset: bigint;
  value: Buffer | null;
}

/**
 * Reads offset ranges of the events topic's partitions by direct assignment: no group
 * membership, no offset commits, so it disturbs no consumer group.
 */
export class PartitionReader {
  private readonly consumer: KafkaConsumer;
  private position: { partition: number; next: bigint } | null = null;

  constructor(private readonly cfg: KafkaConfig) {
    this.consumer = new KafkaConsumer(
      { 'bootstrap.servers': cfg.brokers, 'client.id': cfg.clientId, 'group.id': `${cfg.clientId}-reader`, 'enable.auto.commit': false, 'enable.partition.eof': true },
      // Offsets below the log start (retention) begin at the oldest message held.
      { 'auto.offset.reset': 'earliest' },
    );
  }

  private connected = false;

  async connect(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.consumer.connect({}, (e) => (e ? reject(e) : resolve())));
    this.connected = true;
  }

  /**
   * Up to `max` messages of `partition` at or after `from` and before `to`, in offset order.
   * Fewer only when the range ends, or when Kafka returns nothing for several polls in a row.
   */
  async read(partition: number, from: bigint, to: bigint, max: number): Promise<LogMessage[]> {
    if (!this.position || this.position.partition !== partition || this.position.next !== from) {
      if (this.position) this.consumer.unassign();
      this.consumer.assign([{ topic: this.cfg.topic, partition, offset: Number(from) }]);
      this.position = { partition, next: from };
    }
    const out: LogMessage[] = [];
    let emptyPolls = 0;
    while (out.length < max && this.position.next < to && emptyPolls < EMPTY_POLLS) {
      const got = await new Promise<Message[]>((resolve, reject) => this.consumer.consume(Math.min(max - out.length, 10000), (e, m) => (e ? reject(e) : resolve(m))));
      emptyPolls = got.length === 0 ? emptyPolls + 1 : 0;
      for (const m of got) {
        const offset = BigInt(m.offset);
        if (offset >= to) {
          this.position.next = to;
          break;
        }
        out.push({ offset, value: m.value ?? null });
        this.position.next = offset + 1n;
      }
    }
    return out;
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await new Promise<void>((resolve) => this.consumer.disconnect(() => resolve()));
  }
}
