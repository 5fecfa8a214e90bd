import * as fs from 'fs';
import * as path from 'path';
import { variablesRead } from './harness/env-read';
import { ROOT } from './harness/platform';

/**
 * The README's configuration table against what the code reads: every variable an app reads
 * (found by running the config loaders, plus direct reads of process.env) and every size knob
 * of the tests and the bench has a row, and every row names something that is read somewhere.
 */
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
const documented = new Set(
  table.split('\n').filter((l) => l.startsWith('| `')).flatMap((l) => [...l.split('|')[1].matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1])),
);

/** Variables read (by `pattern`) in the files under `dirs` whose names match `ext`. */
function readIn(dirs: string[], pattern: RegExp, ext: RegExp): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (ext.test(e.name)) for (const m of fs.readFileSync(p, 'utf8').matchAll(pattern)) out.add(m[1]);
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d));
  return out;
}

describe('README configuration table', () => {
  const apps = variablesRead().all;
  // Variables the bench hands to its own helper processes, not settings a user gives.
  const internal = new Set(['TOPIC', 'PORT', 'KAFKA_BROKERS', 'DATABASE_URL', 'TRIBUTARY_BATCH_SIZE', 'TRIBUTARY_PARTITIONS_CONCURRENTLY', 'LOG_LEVEL', 'TRIBUTARY_CACHE', 'TRIBUTARY_RUN']);
  const testKnobs = [...readIn(['test', 'bench'], /process\.env\.([A-Z][A-Z0-9_]*)/g, /\.ts$/)].filter((n) => !apps.has(n) && !internal.has(n));
  const scripts = readIn(['scripts'], /\$\{?((?:TRIBUTARY|OTEL)_[A-Z0-9_]*)/g, /\.sh$/);

  it('has a row for every variable the apps read', () => {
    expect([...apps].filter((n) => !documented.has(n))).toEqual([]);
  });

  it('has a row for the size knobs of the tests and the bench, and for the scripts’ settings', () => {
    expect(testKnobs.length).toBeGreaterThan(0);
    expect(testKnobs.filter((n) => !documented.has(n))).toEqual([]);
    expect([...scripts].filter((n) => !documented.has(n))).toEqual([]);
  });

  it('documents nothing that nothing reads', () => {
    // Read by the OpenTelemetry SDK itself (the apps pass them on untouched).
    const sdk = ['OTEL_SDK_DISABLED', 'OTEL_BSP_SCHEDULE_DELAY'];
    const read = new Set([...apps, ...testKnobs, ...scripts, ...sdk, ...readIn(['test', 'bench'], /process\.env\.([A-Z][A-Z0-9_]*)/g, /\.ts$/)]);
    expect([...documented].filter((n) => !read.has(n))).toEqual([]);
  });
});
