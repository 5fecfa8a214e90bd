import { DataSource } from 'typeorm';
import { DatabaseConfig, DEFAULT_GATEWAY_ROLE } from '@tributary/config/config';
import { sessionOptions } from '@tributary/store/database';
import { InitialSchema1732300000000 } from './1732300000000-initial-schema';
import { DeadLettersAndSchemas1732400000000 } from './1732400000000-dead-letters-and-schemas';
import { ProjectionVersions1732500000000 } from './1732500000000-projection-versions';
import { RowSecurity1732600000000 } from './1732600000000-row-security';

export const MIGRATIONS = [InitialSchema1732300000000, DeadLettersAndSchemas1732400000000, ProjectionVersions1732500000000, RowSecurity1732600000000];

export interface MigrateOptions {
  /** The role the gateway acts as: the row-security migration creates it when absent and grants it its privileges. */
  gatewayRole?: string;
}

export function migrationDataSource(db: DatabaseConfig, opts: MigrateOptions = {}): DataSource {
  // The migrations read the role's name as a session setting (TypeORM constructs them itself).
  const role = opts.gatewayRole ?? DEFAULT_GATEWAY_ROLE;
  return new DataSource({
    type: 'postgres',
    url: db.url,
    schema: db.schema,
    extra: { options: `${sessionOptions(db.schema)} -c tributary.gateway_role=${role}`, max: 1 },
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    logging: ['error'],
  });
}

/** Creates the schema if needed and applies every pending migration; returns their names. */
export async function migrate(db: DatabaseConfig, opts: MigrateOptions = {}): Promise<string[]> {
  const ds = migrationDataSource(db, opts);
  await ds.initialize();
  try {
    await ds.query(`CREATE SCHEMA IF NOT EXISTS "${db.schema}"`);
    const done = await ds.runMigrations({ transaction: 'each' });
    return done.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}
