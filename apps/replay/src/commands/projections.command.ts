import { Inject } from '@nestjs/common';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import type { Pool } from 'pg';
import { ProjectionStateRepository } from '@tributary/projections/projection-state.repository';
import { PROJECTIONS } from '@tributary/projections/registry';
import { PG_POOL } from '../tokens';
import { print } from './output';

@SubCommand({
  name: 'list',
  description: 'Show each projection: live version, the version this code declares, status (live, rebuilding, stale = needs a rebuild), lag and progress. Example: tributary projections list --json',
})
export class ProjectionsListCommand extends CommandRunner {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) { super(); }

  async run(_: string[], o: { json?: boolean }): Promise<void> {
    const items = await new ProjectionStateRepository(this.pool).statuses(PROJECTIONS);
    const lines = items.map(
      (p) => `${p.name}\tv${p.liveVersion}\tcode v${p.codeVersion}\t${p.status}\tlag=${p.lag}\tprogress=${(p.progress * 100).toFixed(1)}%` +
        (p.rebuild && p.status === 'rebuilding' ? `\trebuilding v${p.rebuild.targetVersion} ${p.rebuild.folded}/${p.rebuild.total}` : ''),
    );
    print(o.json, items, `name\tlive\tcode\tstatus\tlag\tprogress\n${lines.join('\n')}`);
  }

  @Option({ flags: '--json', description: 'print JSON' })
  parseJson() { return true; }
}

@Command({ name: 'projections', description: 'Projection versions and rebuild status', subCommands: [ProjectionsListCommand] })
export class ProjectionsCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
