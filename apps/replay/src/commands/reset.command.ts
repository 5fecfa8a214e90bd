import { Inject } from '@nestjs/common';
import type { Command as Commander } from 'commander';
import { Command, CommandRunner, Option } from 'nest-commander';
import type { Pool } from 'pg';
import { loadReplayConfig } from '@tributary/config/config';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { GroupReset, ResetTarget } from '../reset/reset';
import { PG_POOL } from '../tokens';
import { fail, print } from './output';

interface Opts { group?: string; toEarliest?: boolean; toTimestamp?: string; tenant?: string; dryRun?: boolean; json?: boolean }

@Command({
  name: 'reset',
  description: `Make a consumer group re-read Kafka from a point: moves its Postgres checkpoints and its committed Kafka offsets together. Safe because applying is idempotent (re-read events are recognised by id and change nothing). Stop the group's processors first: with members it refuses (exit 3). A checkpoint is never moved forward.
--to-timestamp uses the Kafka message timestamp (when the gateway or backfill produced it), not the event time.
--tenant limits the reset to the partitions holding that tenant's stored events; other tenants on those partitions are re-read too (Kafka partitions by key hash, not by tenant).
Exit codes: 0 done, 2 bad usage, 3 the group has active members.
Examples:
  tributary reset --group tributary-processor --to-earliest --dry-run
  tributary reset --group tributary-processor --to-timestamp 2026-11-01T00:00:00Z --tenant acme --json`,
})
export class ResetCommand extends CommandRunner {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) { super(); }

  // The one-line summary in `tributary --help`; the full description in `tributary reset --help`.
  override setCommand(c: Commander): this {
    c.summary('Move a stopped consumer group back so it re-reads Kafka');
    return super.setCommand(c);
  }

  async run(_: string[], o: Opts): Promise<void> {
    if (!o.group) fail('--group is required', 2);
    if (!!o.toEarliest === !!o.toTimestamp) fail('give exactly one of --to-earliest or --to-timestamp', 2);
    const target: ResetTarget = o.toEarliest ? { kind: 'earliest' } : { kind: 'timestamp', time: o.toTimestamp! };
    const reset = new GroupReset(this.pool, loadReplayConfig().kafka);
    try {
      const plan = await reset.plan(o.group, target, o.tenant ?? null);
      if (!o.dryRun) await reset.apply(plan);
      const reread = plan.partitions.reduce((s, p) => s + p.reread, 0);
      const lines = plan.partitions.map((p) => `${p.partition}\t${p.checkpoint ?? '-'}\t${p.committed ?? '-'}\t${p.target}\t${p.reread}`);
      print(
        o.json,
        { dryRun: !!o.dryRun, ...plan, reread },
        `${o.dryRun ? 'dry run: would move' : 'moved'} group ${plan.group} on ${plan.topic}${plan.tenant ? ` (partitions of tenant ${plan.tenant})` : ''}: ${reread} messages to re-read\npartition\tcheckpoint\tcommitted\ttarget\tre-read\n${lines.join('\n')}`,
      );
    } catch (e) {
      if (e instanceof TributaryError && e.code === ErrorCode.Conflict) fail(e.message, 3);
      throw e;
    }
  }

  @Option({ flags: '--group <id>', description: 'the consumer group (TRIBUTARY_GROUP of its processors)' })
  parseGroup(v: string) { return v; }

  @Option({ flags: '--to-earliest', description: 're-read from the oldest message Kafka still holds' })
  parseEarliest() { return true; }

  @Option({ flags: '--to-timestamp <time>', description: 're-read from the first message produced at or after this RFC 3339 time' })
  parseTimestamp(v: string) {
    if (Number.isNaN(Date.parse(v))) fail(`--to-timestamp '${v}' is not an RFC 3339 date-time`, 2);
    return v;
  }

  @Option({ flags: '--tenant <id>', description: "only the partitions holding this tenant's events" })
  parseTenant(v: string) { return v; }

  @Option({ flags: '--dry-run', description: 'show the moves; change nothing' })
  parseDryRun() { return true; }

  @Option({ flags: '--json', description: 'print JSON' })
  parseJson() { return true; }
}
