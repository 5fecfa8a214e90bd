import { Controller, Get, Inject, OnModuleDestroy } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Pool } from 'pg';
import type { GatewayConfig } from '@tributary/config/config';
import { createKafka } from '@tributary/kafka/kafka-client';
import { GATEWAY_CONFIG, PG_POOL } from '../tokens';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);

@Controller('health')
export class HealthController implements OnModuleDestroy {
  private readonly admin;
  private adminConnected?: Promise<void>;

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig,
  ) {
    this.admin = createKafka(cfg.kafka).admin();
  }

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([
      async () => {
        const s = this.indicator.check('postgres');
        try {
          await withTimeout(this.pool.query('SELECT 1'), 2000);
          return s.up();
        } catch (e) {
          return s.down({ message: (e as Error).message });
        }
      },
      async () => {
        const s = this.indicator.check('kafka');
        try {
          this.adminConnected ??= this.admin.connect();
          await withTimeout(this.adminConnected, 2000);
          await withTimeout(this.admin.fetchTopicMetadata({ topics: [this.cfg.kafka.topic] }), 2000);
          return s.up();
        } catch (e) {
          return s.down({ message: (e as Error).message });
        }
      },
    ]);
  }

  async onModuleDestroy() {
    if (this.adminConnected) await this.admin.disconnect().catch(() => undefined);
  }
}
