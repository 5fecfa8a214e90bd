import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { ROLES, Role } from '@tributary/auth/api-keys';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { fail, print } from './output';

interface Opts { tenant?: string; roles?: string[]; name?: string; json?: boolean; dryRun?: boolean }

@SubCommand({
  name: 'create',
  description: 'Create an API key; the key is printed this once. Example: tributary keys create --tenant acme --roles ingest,read',
})
export class KeysCreateCommand extends CommandRunner {
  constructor(private readonly tenants: TenantsRepository) {
    super();
  }

  async run(_: string[], opts: Opts): Promise<void> {
    if (!opts.tenant) fail('--tenant is required', 2);
    const roles = opts.roles ?? [];
    const bad = roles.filter((r) => !ROLES.includes(r as Role));
    if (roles.length === 0 || bad.length) fail(`--roles must list some of ${ROLES.join(',')}${bad.length ? ` (unknown: ${bad.join(',')})` : ''}`, 2);
    if (!(await this.tenants.exists(opts.tenant))) fail(`tenant '${opts.tenant}' does not exist`, 3);
    if (opts.dryRun) {
      const unique = [...new Set(roles)];
      print(opts.json, { dryRun: true, tenant: opts.tenant, roles: unique, name: opts.name ?? null }, `dry run: would create a key for ${opts.tenant} (${unique.join(',')})`);
      return;
    }
    const k = await this.tenants.createKey(opts.tenant, [...new Set(roles as Role[])], opts.name ?? null);
    print(opts.json, { ...k, tenant: opts.tenant }, `key ${k.id} for ${opts.tenant} (${k.roles.join(',')}):\n${k.key}`);
  }

  @Option({ flags: '--tenant <id>', description: 'tenant the key belongs to', required: true })
  parseTenant(v: string) { return v; }

  @Option({ flags: '--roles <list>', description: `comma-separated roles: ${ROLES.join(',')}`, required: true })
  parseRoles(v: string) { return v.split(',').map((r) => r.trim()).filter(Boolean); }

  @Option({ flags: '--name <name>', description: 'a label for the key' })
  parseName(v: string) { return v; }

  @Option({ flags: '--json', description: 'print JSON' })
  parseJson() { return true; }

  @Option({ flags: '--dry-run', description: 'check the tenant and roles; create no key' })
  parseDryRun() { return true; }
}

@Command({ name: 'keys', description: 'Manage API keys', subCommands: [KeysCreateCommand] })
export class KeysCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
