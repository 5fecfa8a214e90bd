import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { NestJsonLogger } from '@tributary/observability/logger';
import { ProcessorModule } from './processor.module';

async function main() {
  const app = await NestFactory.createApplicationContext(ProcessorModule, { logger: new NestJsonLogger() });
  app.enableShutdownHooks();
}

main().catch((e) => {
  process.stderr.write(`${JSON.stringify({ level: 'error', component: 'processor', event: 'startup_failed', error: String(e?.message ?? e) })}\n`);
  process.exit(1);
});
