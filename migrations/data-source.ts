import { DataSource } from 'typeorm';
import type { DatabaseConfig } from '@tributary/config/config';
import { sessionOptions } from '@tributary/store/database';
import { InitialSchema1732300000000 } from './1732300000000-initial-schema';
import { DeadLettersAndSchemas1732400000000 } from './1732400000000-dead-letters-and-schemas';
import { ProjectionVersions1732500000000 } from './1732500000000-projection-versions';

export const MIGRATIONS = [InitialSchema1732300000000, DeadLettersAndSchemas1732400000000, ProjectionVersions1732500000000];

export function migrationDataSource(db: DatabaseConfig): DataSource {
  return new DataSource({
    type: 'postgres',
    url: db.url,
    schema: db.schema,
    extra: { options: sessionOptions(db.schema), max: 1 },
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each',
    logging: ['error'],
  });
}

/** Creates the schema if needed and applies every pending migration; returns their names. */
export async function migrate(db: DatabaseConfig): Promise<string[]> {
  const ds = migrationDataSource(db);
  await ds.initialize();
  try {
    await ds.query(`CREATE SCHEMA IF NOT EXISTS "${db.schema}"`);
    const done = await ds.runMigrations({ transaction: 'each' });
    return done.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}
