import './tracing';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import type { Histogram } from 'prom-client';
import { loadGatewayConfig } from '@tributary/config/config';
import { INGEST_LIMITS } from '@tributary/contracts/decode-ingest';
import { ensureTopics } from '@tributary/kafka/kafka-client';
import { retryUntil } from '@tributary/kafka/retry';
import { Logger, NestJsonLogger } from '@tributary/observability/logger';
import { metrics } from '@tributary/observability/metrics';
import { handleShutdown } from '@tributary/observability/shutdown';
import { GatewayModule } from './gateway.module';
import { ApiKeyAuth } from './http/api-keys';
import { traceRequests } from './http/server-spans';
import { registerIngestRoute } from './ingest/ingest.route';
import { IngestService } from './ingest/ingest.service';
import { openApiDocument } from './openapi';

async function main() {
  const cfg = loadGatewayConfig();
  const log = new Logger('gateway');
  await retryUntil('creating topics', () => ensureTopics(cfg.kafka), 5 * 60_000, (attempt, e) => log.warn('kafka_unavailable_at_start', { attempt, error: e.message }));
  const adapter = new FastifyAdapter({ bodyLimit: INGEST_LIMITS.bodyBytes });
  const fastify = adapter.getInstance();
  // One body parser for every content type: handlers get the raw Buffer and decide (400/415/422)
  // themselves, so each error is a problem+json with the field path.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  traceRequests(fastify);
  // The route pattern, not the URL, keeps the label set bounded; each label set's child is looked up once.
  const durations = new Map<string, Histogram.Internal<string>>();
  fastify.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions?.url ?? 'unmatched';
    const labels = `${req.method} ${route} ${reply.statusCode}`;
    let h = durations.get(labels);
    if (!h) durations.set(labels, (h = metrics.httpDuration.labels({ method: req.method, route, status: String(reply.statusCode) })));
    h.observe(reply.elapsedTime / 1000);
    done();
  });

  const app = await NestFactory.create<NestFastifyApplication>(GatewayModule, adapter, { logger: new NestJsonLogger(), bodyParser: false });
  handleShutdown(app, 'gateway', cfg.shutdownTimeoutMs);
  // The hot path outside Nest's pipeline (see ingest.route.ts); every other route is a Nest controller.
  registerIngestRoute(fastify, app.get(ApiKeyAuth), app.get(IngestService));
  SwaggerModule.setup('docs', app, openApiDocument as any, { jsonDocumentUrl: 'openapi.json', yamlDocumentUrl: 'openapi.yaml' });
  await app.listen(cfg.port, cfg.host);
  log.info('gateway_listening', { url: await app.getUrl(), topic: cfg.kafka.topic });
}

main().catch((e) => {
  process.stderr.write(`${JSON.stringify({ level: 'error', component: 'gateway', event: 'startup_failed', error: String(e?.message ?? e) })}\n`);
  process.exit(1);
});
