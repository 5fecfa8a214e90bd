import './tracing';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { NestJsonLogger } from '@tributary/observability/logger';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { ProcessorConfig } from '@tributary/config/config';
import { handleShutdown } from '@tributary/observability/shutdown';
import { ProcessorModule } from './processor.module';
import { PROCESSOR_CONFIG } from './tokens';

async function main() {
  // HTTP only for operations: /health/live, /health/ready, /metrics.
  const app = await NestFactory.create<NestFastifyApplication>(ProcessorModule, new FastifyAdapter(), { logger: new NestJsonLogger() });
  const cfg = app.get<ProcessorConfig>(PROCESSOR_CONFIG);
  handleShutdown(app, 'processor', cfg.shutdownTimeoutMs);
  await app.listen(cfg.port, cfg.host);
}

main().catch((e) => {
  process.stderr.write(`${JSON.stringify({ level: 'error', component: 'processor', event: 'startup_failed', error: String(e?.message ?? e) })}\n`);
  process.exit(1);
});
