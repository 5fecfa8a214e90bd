import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';
import { ROOT } from './harness/platform';

const run = promisify(execFile);

// The benchmarks are not run by `npm test`; this only checks that each scenario starts and yields numbers.
describe('bench smoke', () => {
  it('runs every scenario once on a small load and reports ours, reference and ratio', async () => {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'dist/bench/run.js'), '--json', '--runs', '1', '--events', '1200'], { env: process.env, maxBuffer: 1 << 24 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(result.figures.map((f: { name: string }) => f.name)).toEqual(['ingest-batch', 'process', 'rebuild']);
    for (const f of result.figures) {
      expect(f.ours).toBeGreaterThan(0);
      expect(f.reference).toBeGreaterThan(0);
      expect(f.ratio).toBeCloseTo(f.runs.ours[0] / f.runs.reference[0], 2);
    }
  }, 300000);
});
