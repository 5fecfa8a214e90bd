import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { DeadLettersService, RetryOutcome } from '@tributary/projections/dead-letters.service';
import { fail, print } from './output';

interface Filters { tenant?: string; type?: string; since?: string; status?: string; limit?: number; json?: boolean; dryRun?: boolean }

abstract class FilterOptions extends CommandRunner {
  @Option({ flags: '--tenant <id>', description: 'only this tenant (required for retry and discard)' })
  parseTenant(v: string) { return v; }

  @Option({ flags: '--type <type>', description: 'only events of this type' })
  parseType(v: string) { return v; }

  @Option({ flags: '--since <time>', description: 'only dead letters created at or after this RFC 3339 time' })
  parseSince(v: string) {
    if (Number.isNaN(Date.parse(v))) fail(`--since '${v}' is not an RFC 3339 date-time`, 2);
    return v;
  }

  @Option({ flags: '--json', description: 'print JSON' })
  parseJson() { return true; }
}

@SubCommand({ name: 'list', description: 'List dead letters. Example: tributary dead-letters list --tenant acme --type purchase --since 2026-01-01T00:00:00Z' })
export class DeadLettersListCommand extends FilterOptions {
  constructor(private readonly deadLetters: DeadLettersService) { super(); }

  async run(_: string[], o: Filters): Promise<void> {
    const items = await this.deadLetters.list(o.tenant ?? null, { type: o.type, since: o.since, status: o.status ?? 'open', limit: o.limit ?? 1000 });
    const lines = items.map((d) => `${d.id}\t${d.eventId ?? '-'}\t${d.type ?? '-'}\t${d.subject ?? '-'}\t${d.stage}\tattempts=${d.attempts}\t${d.error}`);
    print(o.json, items, items.length ? `id\tevent\ttype\tsubject\tstage\tattempts\terror\n${lines.join('\n')}` : 'no dead letters');
  }

  @Option({ flags: '--status <status>', description: 'open (default), resolved or discarded' })
  parseStatus(v: string) { return v; }

  @Option({ flags: '--limit <n>', description: 'at most this many (default 1000)' })
  parseLimit(v: string) { return Number(v); }
}

abstract class ResolveCommand extends FilterOptions {
  constructor(protected readonly deadLetters: DeadLettersService) { super(); }
  protected abstract act(tenant: string, id: string): Promise<RetryOutcome>;
  protected abstract verb: string;

  async run(ids: string[], o: Filters): Promise<void> {
    if (!o.tenant) fail('--tenant is required', 2);
    if (ids.length === 0 && !o.type && !o.since) fail('name dead-letter ids, or select with --type / --since', 2);
    const chosen = await this.deadLetters.list(o.tenant, { ids: ids.length ? ids : undefined, type: o.type, since: o.since, status: 'open', limit: 100000 });
    if (o.dryRun) {
      print(o.json, chosen, `would ${this.verb} ${chosen.length} dead letter(s): ${chosen.map((d) => d.id).join(', ') || '-'}`);
      return;
    }
    const results: RetryOutcome[] = [];
    // In id order: a stream's dead letters were created in log order.
    for (const d of chosen) results.push(await this.act(o.tenant, d.id));
    const failing = results.filter((r) => r.outcome === 'still_failing').length;
    print(o.json, results, results.map((r) => `${r.id}\t${r.outcome}${'released' in r ? `\treleased=${r.released}` : ''}${'error' in r ? `\t${r.error}` : ''}`).join('\n') || 'nothing to do');
    if (failing > 0) process.exitCode = 4;
  }

  @Option({ flags: '--dry-run', description: 'show what would be done' })
  parseDryRun() { return true; }
}

@SubCommand({
  name: 'retry',
  arguments: '[ids...]',
  description: 'Re-run the checks on dead letters; on success the event applies and its parked stream is released in order. Exit 4 if some still fail. Example: tributary dead-letters retry --tenant acme --type purchase',
})
export class DeadLettersRetryCommand extends ResolveCommand {
  // Explicit constructors: Nest reads the injected types from the decorated class itself.
  constructor(deadLetters: DeadLettersService) { super(deadLetters); }
  protected verb = 'retry';
  protected act(tenant: string, id: string) { return this.deadLetters.retry(tenant, id); }
}

@SubCommand({
  name: 'discard',
  arguments: '[ids...]',
  description: 'Give up on dead letters (the events stay archived as discarded) and release their streams. Example: tributary dead-letters discard --tenant acme 42',
})
export class DeadLettersDiscardCommand extends ResolveCommand {
  constructor(deadLetters: DeadLettersService) { super(deadLetters); }
  protected verb = 'discard';
  protected act(tenant: string, id: string) { return this.deadLetters.discard(tenant, id); }
}

@Command({ name: 'dead-letters', description: 'List, retry and discard dead letters', subCommands: [DeadLettersListCommand, DeadLettersRetryCommand, DeadLettersDiscardCommand] })
export class DeadLettersCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
