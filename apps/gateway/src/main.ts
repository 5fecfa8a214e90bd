import './tracing';
import * as http from 'http';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { loadGatewayConfig } from '@tributary/config/config';
import { INGEST_LIMITS } from '@tributary/contracts/decode-ingest';
import { ensureTopics } from '@tributary/kafka/kafka-client';
import { retryUntil } from '@tributary/kafka/retry';
import { Logger, NestJsonLogger } from '@tributary/observability/logger';
import { serveMetrics } from '@tributary/observability/metrics-server';
import { handleShutdown } from '@tributary/observability/shutdown';
import { GatewayModule } from './gateway.module';
import { ApiKeyAuth } from './http/api-keys';
import { authenticateBeforeBody } from './http/auth-before-body';
import { traceRequests } from './http/server-spans';
import { observeHttp } from './http/http-metrics';
import { ingestHandler, isIngestRequest } from './ingest/ingest.http';
import { IngestService } from './ingest/ingest.service';
import { openApiDocument } from './openapi';

// Fastify's default keep-alive; Fastify sets its timeouts only on servers it creates itself, so
// the gateway's server (serverFactory below) sets them all.
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

async function main() {
  const cfg = loadGatewayConfig();
  const log = new Logger('gateway');
  await retryUntil('creating topics', () => ensureTopics(cfg.kafka), 5 * 60_000, (attempt, e) => log.warn('kafka_unavailable_at_start', { attempt, error: e.message }));
  // One Node HTTP server: `POST /v1/events` goes to the ingest handler (ingest.http.ts), every
  // other request to Fastify (Nest's controllers, docs, health, metrics).
  let ingest: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  const adapter = new FastifyAdapter({
    bodyLimit: INGEST_LIMITS.bodyBytes,
    serverFactory: (fastifyHandler: http.RequestListener) => {
      // A client that sends its headers or its body slowly (or never) holds a socket until
      // these run out; then Node answers 408 and closes it. requestTimeout covers receiving the
      // request only, not the wait for Kafka's ack. Node checks them every
      // connectionsCheckingInterval (30 s by default, which would let a socket live 30 s past them).
      const server = http.createServer(
        {
          headersTimeout: cfg.headersTimeoutMs,
          requestTimeout: cfg.requestTimeoutMs,
          connectionsCheckingInterval: Math.min(1000, Math.ceil(cfg.headersTimeoutMs / 4)),
        },
        (req, res) => (ingest && isIngestRequest(req) ? ingest(req, res) : fastifyHandler(req, res)),
      );
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      return server;
    },
  });
  const fastify = adapter.getInstance();
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // One body parser for every content type: handlers get the raw Buffer and decide (400/415/422)
  // themselves, so each error is a problem+json with the field path.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  traceRequests(fastify);
  let auth: ApiKeyAuth | undefined;
  authenticateBeforeBody(fastify, () => auth!);
  fastify.addHook('onResponse', (req, reply, done) => {
    observeHttp(req.method, req.routeOptions?.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });

  const ops = await serveMetrics(cfg.opsPort, cfg.host);
  fastify.addHook('onClose', (_instance, done) => {
    ops.close(() => done());
  });

  const app = await NestFactory.create<NestFastifyApplication>(GatewayModule, adapter, { logger: new NestJsonLogger(), bodyParser: false });
  handleShutdown(app, 'gateway', cfg.shutdownTimeoutMs);
  const keys = app.get(ApiKeyAuth);
  auth = keys;
  ingest = ingestHandler(keys, app.get(IngestService), () => closing);
  SwaggerModule.setup('docs', app, openApiDocument as any, { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml' });
  await app.listen(cfg.port, cfg.host);
  log.info('gateway_listening', { url: await app.getUrl(), ops_port: cfg.opsPort, topic: cfg.kafka.topic });
}

main().catch((e) => {
  process.stderr.write(`${JSON.stringify({ level: 'error', component: 'gateway', event: 'startup_failed', error: String(e?.message ?? e) })}\n`);
  process.exit(1);
});
