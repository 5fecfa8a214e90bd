import { execFileSync } from 'child_process';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Runs once before the integration tests: real Kafka and Postgres (started by scripts/infra.sh
 * unless KAFKA_BROKERS and DATABASE_URL are given) and a fresh build of the apps the tests spawn.
 */
export default async function globalSetup(): Promise<void> {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/infra.sh'), 'up'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of out.split('\n')) {
    const m = /^export (KAFKA_BROKERS|DATABASE_URL)=(.+)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  execFileSync('bash', ['-c', 'npx tsc -p tsconfig.build.json && npx tsc-alias -p tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}
