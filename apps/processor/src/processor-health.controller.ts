import { Controller, Inject } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorFunction, HealthIndicatorService } from '@nestjs/terminus';
import type { Pool } from 'pg';
import type { ProcessorConfig } from '@tributary/config/config';
import { HealthEndpoints } from '@tributary/observability/health-checks';
import { ProcessorService } from './processor.service';
import { PG_POOL, PROCESSOR_CONFIG } from './tokens';

/**
 * Ready: Postgres and Kafka answer, and the consumer loop is neither retrying a failing batch
 * (a transient failure: its partition is paused) nor stuck on one.
 */
@Controller('health')
export class ProcessorHealthController extends HealthEndpoints {
  constructor(
    health: HealthCheckService,
    indicator: HealthIndicatorService,
    private readonly processor: ProcessorService,
    @Inject(PG_POOL) pool: Pool,
    @Inject(PROCESSOR_CONFIG) private readonly cfg: ProcessorConfig,
  ) {
    super(health, indicator, pool, cfg.kafka);
  }

  protected override extraChecks(): HealthIndicatorFunction[] {
    return [
      async () => {
        const s = this.indicator.check('consumer_loop');
        const h = this.processor.loopHealth();
        if (!h?.running) return s.down({ message: 'the consumer loop is not running' });
        if (h.retrying.length > 0) return s.down({ message: `${h.retrying.length} partition(s) paused, retrying a failing batch`, retrying: h.retrying });
        if (h.oldestBatchMs > this.cfg.stuckAfterMs) return s.down({ message: `a batch has been running for ${h.oldestBatchMs} ms`, oldestBatchMs: h.oldestBatchMs });
        return s.up({ oldestBatchMs: h.oldestBatchMs });
      },
    ];
  }
}
