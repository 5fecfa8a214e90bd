import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { Pool } from 'pg';
import { GatewayConfig, loadGatewayConfig } from '@tributary/config/config';
import { EventProducer } from '@tributary/kafka/event-producer';
import { assertHeldToPolicies } from '@tributary/store/row-security';
import { EventsRepository } from '@tributary/store/events.repository';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { DeadLettersService } from '@tributary/projections/dead-letters.service';
import { eventJudge } from '@tributary/projections/event-judge';
import { PROJECTIONS } from '@tributary/projections/registry';
import { SchemasRepository } from '@tributary/store/schemas.repository';
import { AdminController } from './admin/admin.controller';
import { DeadLettersController } from './dead-letters/dead-letters.controller';
import { SchemasController } from './schemas/schemas.controller';
import { HealthController } from './health/health.controller';
import { ApiKeyAuth } from './http/api-keys';
import { AuthGuard } from './http/auth.guard';
import { TenantLimits } from './http/tenant-limits';
import { ProblemFilter } from './http/problem.filter';
import { StorableParamsPipe } from './http/storable-params.pipe';
import { IngestService } from './ingest/ingest.service';
import { QueryController } from './query/query.controller';
import { ProjectionsController } from './projections/projections.controller';
import { ProjectionStateRepository } from '@tributary/projections/projection-state.repository';
import { adminPool, keyPool, tenantPool } from './pools';
import { ADMIN_POOL, GATEWAY_CONFIG, KEY_LOOKUP, KEY_POOL, PG_POOL } from './tokens';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'json', logger: false })],
  // No MetricsController: /metrics is served on the operations port only (main.ts, OPS_PORT).
  controllers: [AdminController, QueryController, DeadLettersController, SchemasController, ProjectionsController, HealthController],
  providers: [
    { provide: GATEWAY_CONFIG, useFactory: () => loadGatewayConfig() },
    // Row-level security: tenant routes and key lookups act as the gateway role (pools.ts). The
    // gateway refuses to start if that role would not be held to the policies.
    {
      provide: PG_POOL,
      useFactory: async (cfg: GatewayConfig) => {
        const pool = tenantPool(cfg);
        await assertHeldToPolicies(pool);
        return pool;
      },
      inject: [GATEWAY_CONFIG],
    },
    { provide: KEY_POOL, useFactory: keyPool, inject: [GATEWAY_CONFIG] },
    // Only AdminController gets TenantsRepository on this pool; key lookups have KEY_LOOKUP.
    { provide: ADMIN_POOL, useFactory: adminPool, inject: [GATEWAY_CONFIG] },
    { provide: KEY_LOOKUP, useFactory: (pool: Pool) => new TenantsRepository(pool), inject: [KEY_POOL] },
    { provide: TenantsRepository, useFactory: (pool: Pool) => new TenantsRepository(pool), inject: [ADMIN_POOL] },
    { provide: EventsRepository, useFactory: (pool: Pool) => new EventsRepository(pool), inject: [PG_POOL] },
    { provide: ProjectionStateRepository, useFactory: (pool: Pool) => new ProjectionStateRepository(pool), inject: [PG_POOL] },
    { provide: SchemasRepository, useFactory: (pool: Pool) => new SchemasRepository(pool), inject: [PG_POOL] },
    {
      provide: DeadLettersService,
      useFactory: (pool: Pool, schemas: SchemasRepository) => new DeadLettersService(pool, eventJudge(schemas, PROJECTIONS), PROJECTIONS),
      inject: [PG_POOL, SchemasRepository],
    },
    {
      provide: EventProducer,
      useFactory: async (cfg: GatewayConfig) => {
        const p = new EventProducer(cfg.kafka, cfg.produceTimeoutMs, cfg.producerBufferMb);
        await p.connect();
        return p;
      },
      inject: [GATEWAY_CONFIG],
    },
    { provide: APP_FILTER, useClass: ProblemFilter },
    { provide: APP_PIPE, useClass: StorableParamsPipe },
    ApiKeyAuth,
    AuthGuard,
    TenantLimits,
    IngestService,
  ],
})
export class GatewayModule implements OnApplicationShutdown {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(KEY_POOL) private readonly keyPool: Pool,
    @Inject(ADMIN_POOL) private readonly adminPool: Pool,
    private readonly producer: EventProducer,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.producer.disconnect();
    await Promise.all([this.pool.end(), this.keyPool.end(), this.adminPool.end()]);
  }
}
