import { KafkaJS } from '@confluentinc/kafka-javascript';
import { inChunks } from './load';

/**
 * The `clients` scenario's contestants: each produces N 1 KiB records (acks=all, idempotent, no
 * compression: kafkajs has no built-in lz4, so none for everyone, the reference included) in
 * sends of 100 records with 8 in flight — the gateway's shape — then consumes them back from the
 * start with a new group. Times are from the first send to the last ack, and from the consumer's
 * start (group join included, as in ConsumerPerformance's nMsg.sec) to the N-th record.
 */
export interface Contestant {
  name: string;
  produce(topic: string, n: number): Promise<number>;
  consume(topic: string, n: number): Promise<number>;
}

const SEND_SIZE = 100;
const IN_FLIGHT = 8;
const value = Buffer.alloc(1024, 'x');

/** Records/s for sending n records in sends of SEND_SIZE with `inFlight` sends at a time. */
async function sendAll(n: number, send: (count: number, from: number) => Promise<void>, inFlight = IN_FLIGHT): Promise<number> {
  return n / (await inChunks(n, SEND_SIZE, inFlight, (from, count) => send(count, from)));
}

/**
 * Resolves with records/s from the consumer's start (just before run/consume: group join
 * included, as in ConsumerPerformance's nMsg.sec) to the n-th record handed over. Counting from
 * the first hand-over instead flatters clients that prefetch everything before handing anything.
 */
function counter(n: number) {
  const started = performance.now();
  let seen = 0;
  let resolve!: (rate: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  return {
    done,
    add(count: number) {
      seen += count;
      if (seen >= n) resolve((seen * 1000) / (performance.now() - started));
    },
  };
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref())]);

export function confluent(brokers: string): Contestant {
  const kafka = new KafkaJS.Kafka({ 'bootstrap.servers': brokers, kafkaJS: { logLevel: KafkaJS.logLevel.ERROR } } as any);
  return {
    name: '@confluentinc/kafka-javascript',
    async produce(topic, n) {
      const p = kafka.producer({ 'enable.idempotence': true, acks: -1, 'linger.ms': 5, 'compression.type': 'none' } as any);
      await p.connect();
      try {
        return await sendAll(n, async (count, from) => {
          await p.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k-${(from + i) % 1000}`, value })) });
        });
      } finally {
        await p.disconnect();
      }
    },
    async consume(topic, n) {
      const c = kafka.consumer({ 'group.id': `bench-${topic}-confluent`, 'auto.offset.reset': 'earliest', 'enable.auto.commit': false } as any);
      await c.connect();
      const count = counter(n);
      await c.subscribe({ topics: [topic] });
      await c.run({ eachBatch: async ({ batch }) => count.add(batch.messages.length) });
      try {
        return await withTimeout(count.done, 120000, 'confluent consume');
      } finally {
        await c.disconnect();
      }
    },
  };
}

export function kafkajs(brokers: string): Contestant {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Kafka, logLevel, CompressionTypes } = require('kafkajs');
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers: brokers.split(','), logLevel: logLevel.ERROR });
  return {
    name: 'kafkajs',
    async produce(topic, n) {
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
      await p.connect();
      try {
        return await sendAll(n, async (count, from) => {
          await p.send({ topic, acks: -1, compression: CompressionTypes.None, messages: Array.from({ length: count }, (_, i) => ({ key: `k-${(from + i) % 1000}`, value })) });
        });
      } finally {
        await p.disconnect();
      }
    },
    async consume(topic, n) {
      const c = kafka.consumer({ groupId: `bench-${topic}-kafkajs` });
      await c.connect();
      const count = counter(n);
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ autoCommit: false, eachBatch: async ({ batch }: any) => count.add(batch.messages.length) });
      try {
        return await withTimeout(count.done, 120000, 'kafkajs consume');
      } finally {
        await c.disconnect();
      }
    },
  };
}

/**
 * @platformatic/kafka 1.x (2.x needs Node ≥ 22.22); ESM, loaded through Node 20's require(esm).
 * Its idempotent producer fails concurrent sends with OUT_OF_ORDER_SEQUENCE_NUMBER (1.35, seen
 * here), so it gets one send in flight: that is what an idempotent gateway could do with it.
 */
export function platformatic(brokers: string): Contestant {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pk = require('@platformatic/kafka');
  const bootstrapBrokers = brokers.split(',');
  return {
    name: '@platformatic/kafka',
    async produce(topic, n) {
      const p = new pk.Producer({ clientId: 'bench-platformatic', bootstrapBrokers, idempotent: true, acks: pk.ProduceAcks.ALL, compression: 'none' });
      try {
        return await sendAll(n, async (count, from) => {
          await p.send({ messages: Array.from({ length: count }, (_, i) => ({ topic, key: Buffer.from(`k-${(from + i) % 1000}`), value })) });
        }, 1);
      } finally {
        await p.close();
      }
    },
    async consume(topic, n) {
      const c = new pk.Consumer({ groupId: `bench-${topic}-platformatic`, clientId: 'bench-platformatic', bootstrapBrokers });
      const count = counter(n);
      const stream = await c.consume({ topics: [topic], mode: 'earliest', autocommit: false });
      stream.on('data', () => count.add(1));
      try {
        return await withTimeout(count.done, 120000, 'platformatic consume');
      } finally {
        await stream.close().catch(() => undefined);
        await c.close(true);
      }
    },
  };
}
