import { Inject } from '@nestjs/common';
import * as fs from 'fs';
import type { Command as Commander } from 'commander';
import { Command, CommandRunner, Option } from 'nest-commander';
import type { Pool } from 'pg';
import { loadReplayConfig } from '@tributary/config/config';
import { EventProducer } from '@tributary/kafka/event-producer';
import { ensureTopics } from '@tributary/kafka/kafka-client';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { backfill, countLines } from '../backfill/backfill';
import { PG_POOL } from '../tokens';
import { fail, print } from './output';
import { Progress } from './progress';

interface Opts { tenant?: string; rate?: number; rejects?: string; dryRun?: boolean; json?: boolean }

// A bulk write may wait longer for the brokers than an HTTP request does.
const DELIVERY_TIMEOUT_MS = 30000;

@Command({
  name: 'backfill',
  arguments: '<file>',
  description: `Produce historical events (NDJSON: plain or CloudEvents, one per line; '-' reads stdin) for one tenant through the gateway's path: same validation, envelope and acks=all producer; each event keeps its time. Every line needs an id and a time: ids make a re-run add nothing (ids already stored, or repeated in the input, are counted as duplicates and not produced).
Rejected lines go to <file>.rejects.ndjson (stdin: backfill.rejects.ndjson), or --rejects PATH, as {"line", "error", "raw"}.
Exit codes: 0 all lines accepted or duplicates, 2 bad usage, 3 unknown tenant, 4 some lines rejected.
Examples:
  tributary backfill events.ndjson --tenant acme
  zcat 2025.ndjson.gz | tributary backfill - --tenant acme --rate 5000 --rejects /tmp/2025.rejects.ndjson
  tributary backfill events.ndjson --tenant acme --dry-run --json`,
})
export class BackfillCommand extends CommandRunner {
  constructor(@Inject(PG_POOL) private readonly pool: Pool, private readonly tenants: TenantsRepository) { super(); }

  // The one-line summary in `tributary --help`; the full description in `tributary backfill --help`.
  override setCommand(c: Commander): this {
    c.summary('Produce historical NDJSON events for a tenant through the gateway path');
    return super.setCommand(c);
  }

  async run([file]: string[], o: Opts): Promise<void> {
    if (!o.tenant) fail('--tenant is required', 2);
    const stdin = file === '-';
    if (!stdin && !fs.existsSync(file)) fail(`file '${file}' does not exist`, 2);
    if (!(await this.tenants.exists(o.tenant))) fail(`tenant '${o.tenant}' does not exist`, 3);
    const rejectsPath = o.rejects ?? (stdin ? 'backfill.rejects.ndjson' : `${file}.rejects.ndjson`);

    const total = stdin ? null : await countLines(file);
    const progress = new Progress(`backfill ${o.tenant}`, !o.json, 'lines');
    const rejects = o.dryRun ? null : fs.createWriteStream(rejectsPath);
    const cfg = loadReplayConfig();
    let producer: EventProducer | null = null;
    if (!o.dryRun) {
      await ensureTopics(cfg.kafka);
      producer = new EventProducer(cfg.kafka, DELIVERY_TIMEOUT_MS);
      await producer.connect();
    }
    try {
      const s = await backfill(stdin ? process.stdin : fs.createReadStream(file), this.pool, producer, {
        tenant: o.tenant,
        dryRun: !!o.dryRun,
        rate: o.rate,
        // Paced in chunks of a tenth of a second's worth, so --rate does not send in bursts.
        chunk: o.rate ? Math.max(1, Math.min(2000, Math.floor(o.rate / 10))) : 2000,
        onRejected: (r) => rejects?.write(`${JSON.stringify(r)}\n`),
        onProgress: (lines) => progress.update(lines, total),
      });
      progress.done(s.lines, total);
      if (rejects) await new Promise((r) => rejects.end(r));
      const rejectsFile = rejects && s.rejected > 0 ? rejectsPath : null;
      if (rejects && s.rejected === 0) fs.rmSync(rejectsPath, { force: true });
      const shown = s.rejects.slice(0, 20).map((r) => `  line ${r.line}: ${r.error}`);
      print(
        o.json,
        { ...s, rejects: s.rejects.map(({ line, error }) => ({ line, error })), rejectsFile },
        [
          `${o.dryRun ? 'dry run: would accept' : 'accepted'} ${s.accepted}, duplicates ${s.duplicates}, rejected ${s.rejected} of ${s.lines} lines (${s.seconds.toFixed(1)} s, ${s.eventsPerSecond} events/s)`,
          ...shown,
          ...(s.rejected > shown.length ? [`  … ${s.rejected - shown.length} more`] : []),
          ...(rejectsFile ? [`rejected lines written to ${rejectsFile}`] : []),
        ].join('\n'),
      );
      if (s.rejected > 0) process.exitCode = 4;
    } finally {
      await producer?.disconnect();
    }
  }

  @Option({ flags: '--tenant <id>', description: 'tenant the events belong to', required: true })
  parseTenant(v: string) { return v; }

  @Option({ flags: '--rate <n>', description: 'produce at most this many events per second' })
  parseRate(v: string) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) fail(`--rate '${v}' must be a positive integer (events per second)`, 2);
    return n;
  }

  @Option({ flags: '--rejects <path>', description: 'where rejected lines go (default <file>.rejects.ndjson)' })
  parseRejects(v: string) { return v; }

  @Option({ flags: '--dry-run', description: 'validate and count duplicates; produce nothing, write no rejects file' })
  parseDryRun() { return true; }

  @Option({ flags: '--json', description: 'print the summary as JSON (no progress)' })
  parseJson() { return true; }
}
