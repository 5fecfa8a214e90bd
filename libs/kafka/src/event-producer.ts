import { KafkaJS } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '@tributary/config/config';
import { EventEnvelope, kafkaKeyOf } from '@tributary/contracts/envelope';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { metrics } from '@tributary/observability/metrics';
import { createKafka } from './kafka-client';

export const RETRY_AFTER_SECONDS = 5;

/** librdkafka's fatal error (ERR__FATAL, -150), e.g. a gap the gapless guarantee refused. */
const isFatal = (e: unknown) => {
  const x = e as { fatal?: boolean; isFatal?: boolean; code?: number };
  return x?.fatal === true || x?.isFatal === true || x?.code === -150;
};

/**
 * Publishes envelopes with acks=all on an idempotent producer.
 * Invariants:
 *  - publish() resolves only after every message was acknowledged by the in-sync replicas;
 *  - order per partition survives every failure and client retry. librdkafka lets a timed-out
 *    message leave a gap that later queued messages of its partition fill (the docs: the gapless
 *    guarantee "does not apply to timed-out messages"): the request answers 503, the client
 *    retries, and its events land behind later ones. So messages never time out in librdkafka
 *    (`message.timeout.ms` 0: retried until delivered or the producer fails); the request's
 *    deadline is ours, answering 503 while its messages stay queued in order (a retry with the same
 *    ids lands after them, as a duplicate). Any other failure that could leave a gap is fatal
 *    (`enable.gapless.guarantee`), and a fatal producer is replaced by a new one.
 *  - memory stays bounded: the queue holds at most `bufferMb`; beyond it, 503 at once.
 */
export class EventProducer {
  private producer: KafkaJS.Producer;
  private connected = false;
  private replacing?: Promise<void>;

  /** `bufferMb` bounds the bytes queued for the brokers: when they do not answer, memory stays bounded and sends fail at once. */
  constructor(private readonly cfg: KafkaConfig, private readonly deliveryTimeoutMs: number, private readonly bufferMb = 64) {
    this.producer = this.create();
  }

  private create(): KafkaJS.Producer {
    return createKafka(this.cfg).producer({
      'enable.idempotence': true,
      'enable.gapless.guarantee': true,
      acks: -1,
      'linger.ms': 5,
      'compression.type': 'lz4',
      'message.timeout.ms': 0,
      'socket.connection.setup.timeout.ms': Math.min(this.deliveryTimeoutMs, 10000),
      'queue.buffering.max.kbytes': this.bufferMb * 1024,
    } as any);
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  /** `trace` holds W3C trace-context headers (traceparent, tracestate) for every message. */
  async publish(events: EventEnvelope[], trace: Record<string, string> = {}): Promise<void> {
    if (!this.connected || this.replacing) throw new TributaryError(ErrorCode.BrokerUnavailable, 'the gateway is not connected to Kafka yet', [], RETRY_AFTER_SECONDS);
    metrics.producerInflight.inc(events.length);
    const messages = events.map((e) => ({ key: kafkaKeyOf(e), value: JSON.stringify(e), headers: { tenant: e.tenant, type: e.type, id: e.id, ...trace } }));
    try {
      await this.sendWithin(this.cfg.topic, messages, () => metrics.producerInflight.dec(events.length));
    } catch (e) {
      throw new TributaryError(ErrorCode.BrokerUnavailable, `Kafka did not acknowledge the write: ${(e as Error).message}`, [], RETRY_AFTER_SECONDS);
    }
  }

  /** Sends, waiting for the acknowledgement at most deliveryTimeoutMs; `settled` runs when the send itself ends. */
  private async sendWithin(topic: string, messages: KafkaJS.Message[], settled: () => void = () => undefined): Promise<void> {
    const producer = this.producer;
    const sent = producer.send({ topic, messages }).finally(settled);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no acknowledgement within ${this.deliveryTimeoutMs} ms; the messages stay queued in order and may still be written`)), this.deliveryTimeoutMs);
    });
    try {
      await Promise.race([sent, deadline]);
    } catch (e) {
      sent.catch(() => undefined);
      if (isFatal(e)) this.replace(producer);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A fatal producer fails every later send: a new one takes its place (new producer id, new sequences). */
  private replace(failed: KafkaJS.Producer): void {
    if (this.producer !== failed || this.replacing) return;
    this.replacing = (async () => {
      await failed.disconnect().catch(() => undefined);
      this.producer = this.create();
      await this.producer.connect();
    })()
      .catch(() => undefined)
      .finally(() => (this.replacing = undefined));
  }

  /** Copies of dead-lettered messages for consumers of the DLQ topic (the dead_letters table is the truth). */
  async publishDeadLetters(items: { key: string | null; value: string; headers: Record<string, string> }[]): Promise<void> {
    if (items.length === 0) return;
    await this.sendWithin(this.cfg.deadLetterTopic, items.map((i) => ({ key: i.key, value: i.value, headers: i.headers })));
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }
}
