import { execFile, execFileSync } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';
import { ROOT } from './harness/platform';

const run = promisify(execFile);

// The benchmarks are not run by `npm test`; this only checks that each scenario starts and yields
// numbers, on tiny loads (the figures themselves mean nothing at this size).
describe('bench smoke', () => {
  // process-vs-connect's peer (Kafka Connect + the Debezium JDBC sink) from Maven Central, once.
  beforeAll(() => {
    execFileSync('bash', [path.join(ROOT, 'scripts/connect/fetch.sh')], { stdio: 'inherit' });
  }, 180000);

  it('runs every scenario once on a small load and reports ours, reference and ratio', async () => {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'dist/bench/run.js'), '--json', '--runs', '1', '--events', '1200'], { env: process.env, maxBuffer: 1 << 24 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    const names: string[] = result.figures.map((f: { name: string }) => f.name);
    for (const expected of [
      'ingest-batch',
      'ingest-single p99 at 2000 req/s',
      'ingest-single max req/s',
      'process',
      'process, tracing off',
      'process-vs-connect',
      'process-vs-connect, tracing off',
      'e2e-latency p99 at 5000 events/s',
      'rebuild',
      'clients produce: @confluentinc/kafka-javascript',
      'clients consume: @confluentinc/kafka-javascript',
      'clients produce: kafkajs',
      'clients consume: kafkajs',
      'clients produce: @platformatic/kafka',
      'clients consume: @platformatic/kafka',
    ]) {
      expect(names).toContain(expected);
    }
    // Where the CPU goes, per event, by component (Linux /proc).
    const processing = result.figures.find((f: { name: string }) => f.name === 'process');
    expect(processing.extra['cpu.processor.usPerEvent']).toBeGreaterThan(0);
    expect(processing.extra['cpu.postgres.usPerEvent']).toBeGreaterThan(0);
    expect(processing.extra['cpu.reference.postgres.usPerEvent']).toBeGreaterThan(0);
    // Both sides of process-vs-connect wrote every event produced, once: Connect's table and the
    // processor's event store, counted in Postgres after each drain (1,200 = 6 tenants × 200).
    for (const name of ['process-vs-connect', 'process-vs-connect, tracing off']) {
      const vs = result.figures.find((f: { name: string }) => f.name === name);
      expect(vs.extra['connect.rows']).toBe(1200);
      expect(vs.extra['processor.rows']).toBe(1200);
    }
    for (const f of result.figures) {
      expect(f.ours).toBeGreaterThan(0);
      expect(f.reference).toBeGreaterThan(0);
      expect(f.ratio).toBeCloseTo(f.runs.ours[0] / f.runs.reference[0], 2);
    }
    // Every scenario in one go: 275 s on this shared 2-core machine at load ~10 with process-vs-connect
    // and noisy-neighbour; the bound is for a slow machine, not a speed check.
  }, 480000);
});
