import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { MetricsController } from '@tributary/observability/metrics.controller';
import { ProcessorHealthController } from './processor-health.controller';
import type { Pool } from 'pg';
import { loadProcessorConfig, ProcessorConfig } from '@tributary/config/config';
import { createPool } from '@tributary/store/database';
import { ProcessorService } from './processor.service';
import { PG_POOL, PROCESSOR_CONFIG } from './tokens';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', logger: false })],
  controllers: [ProcessorHealthController, MetricsController],
  providers: [
    { provide: PROCESSOR_CONFIG, useFactory: () => loadProcessorConfig() },
    { provide: PG_POOL, useFactory: (cfg: ProcessorConfig) => createPool(cfg.db, 'tributary-processor'), inject: [PROCESSOR_CONFIG] },
    ProcessorService,
  ],
})
export class ProcessorModule implements OnApplicationShutdown {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
