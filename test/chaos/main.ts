import { runChaos } from './chaos';
import { newSeed } from './random';

/**
 * `npm run chaos [-- --events N] [--processors N] [--runs N] [--seed N]`: the full chaos run (200,000
 * events by default). `--seed` repeats a run's random choices (run k of --runs uses seed + k - 1). Prints `accepted=N stored=N lost=0 duplicated=0 out_of_order=0 …` per run and exits
 * non-zero when any run breaks a guarantee.
 */
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
};

async function main(): Promise<void> {
  const runs = option('runs', 1);
  const seed = option('seed', newSeed());
  if (!Number.isInteger(seed) || seed < 0) throw new Error('--seed must be a non-negative integer');
  process.stderr.write(`[chaos] seed ${seed}\n`);
  let failed = 0;
  for (let run = 1; run <= runs; run++) {
    const r = await runChaos({
      label: 'chaos',
      events: option('events', 200000),
      processors: option('processors', 3),
      tenants: 3,
      subjectsPerTenant: option('subjects', 200),
      poisonSubjects: option('poison', 12),
      retryShare: 0.1,
      killEveryMs: option('kill-every-ms', 4000),
      concurrency: 8,
      batchSize: 100,
      seed: seed + run - 1,
      log: (line) => process.stderr.write(`[chaos] ${line}\n`),
    });
    process.stderr.write(`[chaos] run ${run}/${runs} in ${r.seconds}s; faults:\n${r.faults.map((f) => `[chaos]   ${f}`).join('\n')}\n`);
    console.log(r.line);
    if (!r.ok) failed++;
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`[chaos] ${(e as Error).stack}\n`);
  process.exitCode = 2;
});
