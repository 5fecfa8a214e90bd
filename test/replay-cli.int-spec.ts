import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Platform } from './harness/platform';

describe('tributary CLI: projections, rebuild, backfill and reset help and output', () => {
  const p = new Platform('replaycli', 3);
  beforeAll(() => p.start({ processors: 0 }));
  afterAll(() => p.stop());

  // Each example is a whole command line (not a word of the usage line, which help always prints).
  it.each([
    ['rebuild', 'tributary rebuild counts --tenant acme'],
    ['backfill', 'tributary backfill events.ndjson --tenant acme'],
    ['reset', 'tributary reset --group tributary-processor --to-earliest --dry-run'],
    ['projections list', 'tributary projections list --json'],
  ])('%s --help exits 0 with examples', async (cmd, example) => {
    const h = await p.cli(...cmd.split(' '), '--help');
    expect(h.code).toBe(0);
    expect(h.out).toContain(`Usage: tributary ${cmd}`);
    const folded = h.out.replace(/\s+/g, ' ');
    expect(folded).toContain('Example');
    expect(folded.slice(folded.indexOf('Example'))).toContain(example);
  });

  it('projections list prints a table, or JSON with --json', async () => {
    const t = await p.cli('projections', 'list');
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/^name\tlive\tcode\tstatus/);
    expect(t.out).toContain('counts\tv1\tcode v1\tlive\tlag=0\tprogress=100.0%');
    const j = await p.cli('projections', 'list', '--json');
    expect(JSON.parse(j.out)).toEqual([expect.objectContaining({ name: 'counts', liveVersion: 1, codeVersion: 1, status: 'live', lag: 0, progress: 1 })]);
  });

  it('without a TTY, progress is plain lines on stderr and the summary on stdout; --json prints no progress', async () => {
    await p.tenant('acme');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-cli-')), 'e.ndjson');
    fs.writeFileSync(file, Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: `e-${i}`, type: 'a', time: '2025-01-01T00:00:00Z' })).join('\n'));
    const plain = await p.cli('backfill', file, '--tenant', 'acme', '--dry-run');
    expect(plain.code).toBe(0);
    expect(plain.err).toMatch(/^backfill acme: 100\.0% 50\/50 lines [\d,]+ lines\/s ETA 0:00\n$/);
    expect(plain.out).toContain('dry run: would accept 50, duplicates 0, rejected 0 of 50 lines');
    const json = await p.cli('backfill', file, '--tenant', 'acme', '--dry-run', '--json');
    expect(json.err).toBe('');
    expect(JSON.parse(json.out)).toMatchObject({ accepted: 50, dryRun: true });
  });
});
