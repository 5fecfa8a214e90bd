import { Inject } from '@nestjs/common';
import type { Command as Commander } from 'commander';
import { Command, CommandRunner, Option } from 'nest-commander';
import type { Pool } from 'pg';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { misaligned, ProjectionRebuild, RebuildScope } from '@tributary/projections/rebuild';
import { PROJECTIONS } from '@tributary/projections/registry';
import { loadReplayConfig } from '@tributary/config/config';
import { PartitionReader } from '@tributary/kafka/partition-reader';
import { PG_POOL } from '../tokens';
import { fail, print } from './output';
import { Progress } from './progress';

interface Opts { tenant?: string; from?: string; to?: string; source?: string; batchSize?: number; restart?: boolean; dryRun?: boolean; json?: boolean }

const time = (flag: string) => (v: string) => {
  if (Number.isNaN(Date.parse(v))) fail(`${flag} '${v}' is not an RFC 3339 date-time`, 2);
  return new Date(v).toISOString();
};

@Command({
  name: 'rebuild',
  arguments: '<projection>',
  description: `Rebuild a projection into a shadow table from the event store (or the Kafka topic) with this code's version of it, catch up with live processing, and swap atomically. Reads keep answering from the old table; ingest and processing go on. A killed rebuild resumes when re-run with the same options.
--tenant/--from/--to rebuild only those rows (at the live version; --from/--to on whole minutes for counts).
Exit codes: 0 done, 2 bad usage, 3 conflict (another rebuild process running, an interrupted rebuild with other options, or a version change asked for one tenant).
Examples:
  tributary rebuild counts
  tributary rebuild counts --tenant acme --from 2026-01-01T00:00:00Z --to 2026-02-01T00:00:00Z
  tributary rebuild counts --source kafka
  tributary rebuild counts --dry-run --json`,
})
export class RebuildCommand extends CommandRunner {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) { super(); }

  // The one-line summary in `tributary --help`; the full description in `tributary rebuild --help`.
  override setCommand(c: Commander): this {
    c.summary('Rebuild a projection (new version or repair) beside the live one, then swap');
    return super.setCommand(c);
  }

  async run([name]: string[], o: Opts): Promise<void> {
    const projection = PROJECTIONS.find((p) => p.name === name);
    if (!projection) fail(`unknown projection '${name}'; known: ${PROJECTIONS.map((p) => p.name).join(', ')}`, 2);
    const sourceKind = o.source ?? 'store';
    if (sourceKind !== 'store' && sourceKind !== 'kafka') fail(`--source '${o.source}' must be 'store' or 'kafka'`, 2);
    for (const [flag, v] of [['--from', o.from], ['--to', o.to]] as const) {
      if (v && misaligned(projection, v)) fail(`${flag} ${v} must fall on a whole ${projection.scope.timeUnitMs / 1000} s bucket of ${projection.name}`, 2);
    }
    if (o.from && o.to && Date.parse(o.from) >= Date.parse(o.to)) fail('--from must be before --to', 2);
    const scope: RebuildScope = { tenant: o.tenant, from: o.from, to: o.to };
    const progress = new Progress(`rebuild ${name} v${projection.version}`, !o.json);
    const cfg = loadReplayConfig();
    const reader = sourceKind === 'kafka' ? new PartitionReader(cfg.kafka) : null;
    const rebuild = new ProjectionRebuild(this.pool, projection, scope, {
      batchSize: o.batchSize ?? 20000,
      restart: o.restart,
      source: reader ? { kind: 'kafka', reader, topic: cfg.kafka.topic, group: cfg.groupId } : { kind: 'store' },
      onProgress: (p) => progress.update(p.folded, p.total, p.phase === 'swap' ? '(catching up and swapping)' : ''),
    });
    try {
      if (o.dryRun) {
        const plan = await rebuild.plan();
        print(o.json, { dryRun: true, ...plan }, `would ${plan.resume ? `resume at ${plan.resumeAt} events` : 'start'} rebuilding ${plan.projection} v${plan.targetVersion} (live v${plan.liveVersion}): ${plan.events} events to fold`);
        return;
      }
      await reader?.connect();
      const r = await rebuild.run();
      progress.done(r.folded, r.folded);
      print(
        o.json,
        r,
        `rebuilt ${r.projection} v${r.version}${r.resumedFrom ? ` (resumed at ${r.resumedFrom} events)` : ''}: ${r.folded} events, ${r.caughtUpInSwap} caught up in the swap, ${r.seconds.toFixed(1)} s, ${r.eventsPerSecond} events/s`,
      );
    } catch (e) {
      if (e instanceof TributaryError && e.code === ErrorCode.Conflict) fail(e.message, 3);
      throw e;
    } finally {
      await reader?.disconnect();
    }
  }

  @Option({ flags: '--tenant <id>', description: "rebuild only this tenant's rows" })
  parseTenant(v: string) { return v; }

  @Option({ flags: '--from <time>', description: 'rebuild only rows from this event time (inclusive)' })
  parseFrom(v: string) { return time('--from')(v); }

  @Option({ flags: '--to <time>', description: 'rebuild only rows before this event time' })
  parseTo(v: string) { return time('--to')(v); }

  @Option({
    flags: '--source <source>',
    description: "where payloads come from: 'store' (the event store, default) or 'kafka' (the topic, up to the live group's (TRIBUTARY_GROUP) checkpoints; which events count is still decided by the store)",
  })
  parseSource(v: string) { return v; }

  @Option({ flags: '--batch-size <n>', description: 'events per transaction (default 20000)' })
  parseBatchSize(v: string) {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 1_000_000) fail(`--batch-size '${v}' must be an integer from 1 to 1000000`, 2);
    return n;
  }

  @Option({ flags: '--restart', description: 'drop an interrupted rebuild with other options and start over' })
  parseRestart() { return true; }

  @Option({ flags: '--dry-run', description: 'show what would be rebuilt; write nothing' })
  parseDryRun() { return true; }

  @Option({ flags: '--json', description: 'print JSON (no progress)' })
  parseJson() { return true; }
}
