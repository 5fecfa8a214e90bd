import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { TENANT_ID } from '@tributary/contracts/tenant';
import { fail, print } from './output';

interface Opts { name?: string; json?: boolean; dryRun?: boolean }

@SubCommand({
  name: 'create',
  arguments: '<id>',
  description: 'Create a tenant. Example: tributary tenants create acme --name "Acme Inc"',
})
export class TenantsCreateCommand extends CommandRunner {
  constructor(private readonly tenants: TenantsRepository) {
    super();
  }

  async run([id]: string[], opts: Opts): Promise<void> {
    if (!TENANT_ID.test(id)) fail(`tenant id '${id}' must match ${TENANT_ID}`, 2);
    if (opts.dryRun) {
      // The same refusals as the real run (bad id 2, existing tenant 3), nothing written.
      if (await this.tenants.exists(id)) fail(`tenant '${id}' already exists`, 3);
      print(opts.json, { dryRun: true, id, name: opts.name ?? id }, `dry run: would create tenant ${id}`);
      return;
    }
    const t = await this.tenants.create(id, opts.name ?? id);
    if (!t) fail(`tenant '${id}' already exists`, 3);
    print(opts.json, t, `created tenant ${t.id}`);
  }

  @Option({ flags: '--name <name>', description: 'display name (defaults to the id)' })
  parseName(v: string) { return v; }

  @Option({ flags: '--json', description: 'print JSON' })
  parseJson() { return true; }

  @Option({ flags: '--dry-run', description: 'check the id and that it is free; create nothing' })
  parseDryRun() { return true; }
}

@Command({ name: 'tenants', description: 'Manage tenants', subCommands: [TenantsCreateCommand] })
export class TenantsCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
