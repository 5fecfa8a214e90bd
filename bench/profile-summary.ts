import * as fs from 'fs';

/**
 * `node dist/bench/profile-summary.js FILE.cpuprofile [TOP]`: self time by function and by file
 * (node_modules collapsed to the package), the summary docs/performance.md quotes.
 */
interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const [file, topArg] = process.argv.slice(2);
const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const top = Number(topArg ?? 25);
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
// Only the busy window: from the first to the last sample inside the batch processor or the ingest
// service (start-up, the bench's reference phase and shutdown are left out).
const inBatch = (id: number) => {
  for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) if (/batch-processor|ingest\.service|ingest\.controller/.test(byId.get(n)!.callFrame.url)) return true;
  return false;
};
const hits = prof.samples.map((id, i) => (inBatch(id) ? i : -1)).filter((i) => i >= 0);
const [from, to] = hits.length ? [hits[0], hits[hits.length - 1]] : [0, prof.samples.length - 1];
const self = new Map<number, number>();
for (let i = from; i <= to; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (!url) return '(native/vm)';
  if (url.startsWith('node:')) return url;
  return url.replace(/^.*\/dist\//, '');
};
const fn = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const f = `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  fn.set(f, (fn.get(f) ?? 0) + us);
  files.set(where(n.callFrame.url), (files.get(where(n.callFrame.url)) ?? 0) + us);
}
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (total ${(total / 1e6).toFixed(1)} s sampled)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * us) / total).toFixed(1).padStart(5)} %  ${k}`);
};
console.log(`window: samples ${from}..${to} (the batch processor's busy period)`);
print('self time by function', fn);
print('self time by file/package', files);
