import { Controller, Get, Inject, OnModuleDestroy } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Pool } from 'pg';
import type { ProcessorConfig } from '@tributary/config/config';
import { DependencyChecks } from '@tributary/observability/health-checks';
import { ProcessorService } from './processor.service';
import { PG_POOL, PROCESSOR_CONFIG } from './tokens';

@Controller('health')
export class ProcessorHealthController implements OnModuleDestroy {
  private readonly checks: DependencyChecks;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly processor: ProcessorService,
    @Inject(PG_POOL) pool: Pool,
    @Inject(PROCESSOR_CONFIG) private readonly cfg: ProcessorConfig,
  ) {
    this.checks = new DependencyChecks(indicator, pool, cfg.kafka);
  }

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /**
   * Ready: Postgres and Kafka answer, and the consumer loop is neither retrying a failing batch
   * (a transient failure: its partition is paused) nor stuck on one.
   */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      () => this.checks.postgres(),
      () => this.checks.kafkaTopic(),
      async () => {
        const s = this.indicator.check('consumer_loop');
        const h = this.processor.loopHealth();
        if (!h?.running) return s.down({ message: 'the consumer loop is not running' });
        if (h.retrying.length > 0) return s.down({ message: `${h.retrying.length} partition(s) paused, retrying a failing batch`, retrying: h.retrying });
        if (h.oldestBatchMs > this.cfg.stuckAfterMs) return s.down({ message: `a batch has been retrying for ${h.oldestBatchMs} ms`, oldestBatchMs: h.oldestBatchMs });
        return s.up({ oldestBatchMs: h.oldestBatchMs });
      },
    ]);
  }

  onModuleDestroy() {
    return this.checks.close();
  }
}
