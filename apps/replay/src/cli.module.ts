import { Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import { loadReplayConfig } from '@tributary/config/config';
import { createPool } from '@tributary/store/database';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { DeadLettersService } from '@tributary/projections/dead-letters.service';
import { eventJudge } from '@tributary/projections/event-judge';
import { PROJECTIONS } from '@tributary/projections/registry';
import { SchemasRepository } from '@tributary/store/schemas.repository';
import {
  DeadLettersCommand,
  DeadLettersDiscardCommand,
  DeadLettersListCommand,
  DeadLettersRetryCommand,
} from './commands/dead-letters.command';
import { KeysCommand, KeysCreateCommand } from './commands/keys.command';
import { ProjectionsCommand, ProjectionsListCommand } from './commands/projections.command';
import { RebuildCommand } from './commands/rebuild.command';
import { BackfillCommand } from './commands/backfill.command';
import { ResetCommand } from './commands/reset.command';
import { TenantsCommand, TenantsCreateCommand } from './commands/tenants.command';
import { PG_POOL } from './tokens';

@Module({
  providers: [
    { provide: PG_POOL, useFactory: () => createPool(loadReplayConfig().db, 'tributary-cli') },
    { provide: TenantsRepository, useFactory: (pool: Pool) => new TenantsRepository(pool), inject: [PG_POOL] },
    { provide: SchemasRepository, useFactory: (pool: Pool) => new SchemasRepository(pool), inject: [PG_POOL] },
    {
      provide: DeadLettersService,
      useFactory: (pool: Pool, schemas: SchemasRepository) => new DeadLettersService(pool, eventJudge(schemas, PROJECTIONS), PROJECTIONS),
      inject: [PG_POOL, SchemasRepository],
    },
    DeadLettersCommand,
    DeadLettersListCommand,
    DeadLettersRetryCommand,
    DeadLettersDiscardCommand,
    TenantsCommand,
    TenantsCreateCommand,
    KeysCommand,
    KeysCreateCommand,
    ProjectionsCommand,
    ProjectionsListCommand,
    RebuildCommand,
    BackfillCommand,
    ResetCommand,
  ],
})
export class CliModule implements OnApplicationShutdown {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}
