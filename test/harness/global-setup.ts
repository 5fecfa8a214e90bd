import { execFileSync } from 'child_process';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Runs once before the integration tests: real Kafka, Postgres and Jaeger (started by
 * scripts/infra.sh unless KAFKA_BROKERS, DATABASE_URL, OTEL_EXPORTER_OTLP_ENDPOINT are given) and a fresh build of the apps the tests spawn.
 * infra.sh chooses this checkout's ports and prints them as `export NAME=value` lines, taken here
 * (JAEGER_QUERY_URL is where test/tracing.int-spec.ts reads the spans back).
 */
export default async function globalSetup(): Promise<void> {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/infra.sh'), 'up', '--with-jaeger'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of out.split('\n')) {
    const m = /^export (KAFKA_BROKERS|DATABASE_URL|OTEL_EXPORTER_OTLP_ENDPOINT|JAEGER_QUERY_URL)=(.+)$/.exec(line.trim());
    if (m) process.env[m[1]] = m[2];
  }
  // Spans leave the apps within a fraction of a second, so the tracing tests need not wait long.
  process.env.OTEL_BSP_SCHEDULE_DELAY ??= '200';
  // The bench config is the build plus bench/ and this harness (the bench smoke test runs it).
  execFileSync('bash', ['-c', 'npx tsc -p tsconfig.bench.json && npx tsc-alias -p tsconfig.bench.json'], { cwd: ROOT, stdio: 'inherit' });
}
