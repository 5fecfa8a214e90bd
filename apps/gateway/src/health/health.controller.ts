import { Controller, Get, Inject, OnModuleDestroy } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Pool } from 'pg';
import type { GatewayConfig } from '@tributary/config/config';
import { DependencyChecks } from '@tributary/observability/health-checks';
import { GATEWAY_CONFIG, PG_POOL } from '../tokens';

@Controller('health')
export class HealthController implements OnModuleDestroy {
  private readonly checks: DependencyChecks;

  constructor(private readonly health: HealthCheckService, indicator: HealthIndicatorService, @Inject(PG_POOL) pool: Pool, @Inject(GATEWAY_CONFIG) cfg: GatewayConfig) {
    this.checks = new DependencyChecks(indicator, pool, cfg.kafka);
  }

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.checks.postgres(), () => this.checks.kafkaTopic()]);
  }

  onModuleDestroy() {
    return this.checks.close();
  }
}
