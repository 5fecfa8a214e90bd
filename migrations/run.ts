import { loadReplayConfig } from '@tributary/config/config';
import { migrate } from './data-source';

// `npm run migrate`: applies pending migrations to DATABASE_URL (schema DATABASE_SCHEMA).
const cfg = loadReplayConfig();
migrate(cfg.db, { gatewayRole: cfg.gatewayRole })
  .then((applied) => {
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
  })
  .catch((e) => {
    process.stderr.write(`migration failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
