import { Platform } from './harness/platform';

describe('tributary CLI: tenants and keys', () => {
  const p = new Platform('cli');
  beforeAll(() => p.start({ processors: 0 }));
  afterAll(() => p.stop());

  const cli = (...args: string[]) => p.cli(...args);

  it('creates a tenant and a key that the gateway accepts with exactly its roles', async () => {
    const t = await cli('tenants', 'create', 'initech', '--name', 'Initech', '--json');
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out)).toMatchObject({ id: 'initech', name: 'Initech' });

    const k = await cli('keys', 'create', '--tenant', 'initech', '--roles', 'read', '--json');
    expect(k.code).toBe(0);
    const { key, roles } = JSON.parse(k.out);
    expect(roles).toEqual(['read']);
    expect((await p.request('GET', '/v1/events?limit=1', { key })).status).toBe(200);
    expect((await p.request('POST', '/v1/events', { key, body: { type: 'a' } })).status).toBe(403);
  });

  it('exits non-zero with a clear message on bad input', async () => {
    await cli('tenants', 'create', 'dup-co');
    const dup = await cli('tenants', 'create', 'dup-co');
    expect(dup.code).toBe(3);
    expect(dup.err).toContain("tenant 'dup-co' already exists");
    const badRoles = await cli('keys', 'create', '--tenant', 'dup-co', '--roles', 'root');
    expect(badRoles.code).toBe(2);
    expect(badRoles.err).toContain('unknown: root');
    const noTenant = await cli('keys', 'create', '--tenant', 'nobody', '--roles', 'read');
    expect(noTenant.code).toBe(3);
  });

  it('--dry-run checks like the real run and writes nothing', async () => {
    const t = await cli('tenants', 'create', 'dry-co', '--dry-run', '--json');
    expect(t.code).toBe(0);
    expect(JSON.parse(t.out)).toEqual({ dryRun: true, id: 'dry-co', name: 'dry-co' });
    expect((await p.db.query(`SELECT count(*)::int AS n FROM tenants WHERE id = 'dry-co'`)).rows[0].n).toBe(0);
    // A key for a tenant that a dry run did not create is refused as for any unknown tenant.
    expect((await cli('keys', 'create', '--tenant', 'dry-co', '--roles', 'read', '--dry-run')).code).toBe(3);
    expect((await cli('tenants', 'create', 'BAD id', '--dry-run')).code).toBe(2);

    expect((await cli('tenants', 'create', 'dry-co')).code).toBe(0);
    expect((await cli('tenants', 'create', 'dry-co', '--dry-run')).code).toBe(3);
    const k = await cli('keys', 'create', '--tenant', 'dry-co', '--roles', 'ingest,read,read', '--dry-run');
    expect(k.code).toBe(0);
    expect(k.out).toBe('dry run: would create a key for dry-co (ingest,read)\n');
    expect((await cli('keys', 'create', '--tenant', 'dry-co', '--roles', 'root', '--dry-run')).code).toBe(2);
    expect((await p.db.query(`SELECT count(*)::int AS n FROM api_keys WHERE tenant_id = 'dry-co'`)).rows[0].n).toBe(0);
  });

  it('prints help with examples', async () => {
    const h = await cli('keys', 'create', '--help');
    expect(h.code).toBe(0);
    expect(h.out).toContain('Usage: tributary keys create');
    // Commander wraps long lines; compare with whitespace folded.
    expect(h.out.replace(/\s+/g, ' ')).toContain('Example: tributary keys create --tenant acme --roles ingest,read');
  });
});
