import { Controller, Inject } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Pool } from 'pg';
import type { GatewayConfig } from '@tributary/config/config';
import { HealthEndpoints } from '@tributary/observability/health-checks';
import { GATEWAY_CONFIG, PG_POOL } from '../tokens';

/** Ready: Postgres and Kafka answer. */
@Controller('health')
export class HealthController extends HealthEndpoints {
  constructor(health: HealthCheckService, indicator: HealthIndicatorService, @Inject(PG_POOL) pool: Pool, @Inject(GATEWAY_CONFIG) cfg: GatewayConfig) {
    super(health, indicator, pool, cfg.kafka);
  }
}
