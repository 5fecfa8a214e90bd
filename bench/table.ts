import * as fs from 'fs';

/** `node dist/bench/table.js bench/results/<file>.json`: the markdown table docs/performance.md quotes. */
const r = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fmt = (v: number, unit: string) => (unit === 'ms' ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
console.log('| figure | Tributary | reference | ratio | runs (ours / reference) |');
console.log('| --- | --- | --- | --- | --- |');
for (const f of r.figures) {
  const runs = f.runs.ours.map((o: number, i: number) => `${fmt(o, f.unit)} / ${fmt(f.runs.reference[i], f.unit)}`).join(' · ');
  console.log(`| \`${f.name}\` (${f.unit}) | ${fmt(f.ours, f.unit)} | ${f.referenceName}: ${fmt(f.reference, f.unit)} | ${f.ratio} | ${runs} |`);
}
for (const f of r.figures.filter((x: { extra?: object }) => x.extra)) console.log(`\n\`${f.name}\` details (medians): ${Object.entries(f.extra).map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`\n${r.at}; ${r.machine.cpus} vCPU ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; load average at the end ${r.machine.loadAverageAtEnd.join(' / ')}; ${r.settings.events} events, ${r.settings.runs} runs, ${r.settings.eventBytes}-byte events.`);
