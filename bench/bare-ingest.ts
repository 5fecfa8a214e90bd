import * as http from 'http';
import { v7 as uuidv7 } from 'uuid';
import { EventProducer } from '@tributary/kafka/event-producer';

/**
 * The `ingest-single` reference: a bare Node HTTP server that does the least an ingest endpoint
 * must (read the body, parse it, stamp tenant/id/times, produce, answer 202 after the ack) with the
 * gateway's own producer (same client, acks=all, idempotent, linger 5 ms, lz4) and none of
 * Nest/Fastify, auth, validation, rate limits, metrics or tracing. Env: PORT, KAFKA_BROKERS, TOPIC.
 */
async function main() {
  const topic = process.env.TOPIC!;
  const producer = new EventProducer(
    { brokers: process.env.KAFKA_BROKERS!, topic, deadLetterTopic: `${topic}.dlq`, topicPartitions: 6, replicationFactor: 0, clientId: 'bench-bare-ingest' },
    30000,
  );
  await producer.connect();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const e = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const receivedAt = new Date().toISOString();
        const envelope = { specversion: '1.0', source: 'bench', ...e, tenant: 'bench', id: e.id ?? uuidv7(), time: e.time ?? receivedAt, receivedAt };
        await producer.publish([envelope]);
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: envelope.id, status: 'accepted' }));
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => server.close(() => producer.disconnect().finally(() => process.exit(0))));
}

main().catch((e) => {
  process.stderr.write(`bare-ingest failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
