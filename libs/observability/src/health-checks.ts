import { Get, OnModuleDestroy } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorFunction, HealthIndicatorService } from '@nestjs/terminus';
import type { Pool } from 'pg';
import type { KafkaConfig } from '@tributary/config/config';
import { createKafka } from '@tributary/kafka/kafka-client';

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);

/** Readiness probes shared by the apps: each answers within 2 s or reports down. */
export class DependencyChecks {
  private readonly admin;
  private connected?: Promise<void>;

  constructor(private readonly indicator: HealthIndicatorService, private readonly pool: Pool, private readonly kafka: KafkaConfig) {
    this.admin = createKafka(kafka).admin();
  }

  async postgres() {
    const s = this.indicator.check('postgres');
    try {
      await withTimeout(this.pool.query('SELECT 1'), 2000);
      return s.up();
    } catch (e) {
      return s.down({ message: (e as Error).message });
    }
  }

  async kafkaTopic() {
    const s = this.indicator.check('kafka');
    try {
      this.connected ??= this.admin.connect();
      await withTimeout(this.connected, 2000);
      await withTimeout(this.admin.fetchTopicMetadata({ topics: [this.kafka.topic] }), 2000);
      return s.up();
    } catch (e) {
      this.connected = undefined;
      return s.down({ message: (e as Error).message });
    }
  }

  async close() {
    if (this.connected) await this.admin.disconnect().catch(() => undefined);
  }
}

/**
 * `/health/live` and `/health/ready` for every app: ready when Postgres and Kafka answer, plus the
 * app's own checks. Subclasses carry `@Controller('health')` and pass their dependencies in.
 */
export abstract class HealthEndpoints implements OnModuleDestroy {
  protected readonly checks: DependencyChecks;

  protected constructor(private readonly health: HealthCheckService, protected readonly indicator: HealthIndicatorService, pool: Pool, kafka: KafkaConfig) {
    this.checks = new DependencyChecks(indicator, pool, kafka);
  }

  /** The app's checks beyond Postgres and Kafka. */
  protected extraChecks(): HealthIndicatorFunction[] {
    return [];
  }

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.checks.postgres(), () => this.checks.kafkaTopic(), ...this.extraChecks()]);
  }

  onModuleDestroy() {
    return this.checks.close();
  }
}
