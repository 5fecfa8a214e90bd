import { spawn } from 'child_process';
import * as path from 'path';
import type { Pool } from 'pg';
import { hashApiKey } from '../libs/auth/src/api-keys';
import { loadGatewayConfig } from '../libs/config/src/config';
import { withTenant } from '../libs/store/src/database';
import { EventsRepository } from '../libs/store/src/events.repository';
import { tenantPool, keyPool } from '../apps/gateway/src/pools';
import { migrate } from '../migrations/data-source';
import { Platform, ROOT, waitFor } from './harness/platform';

// Row-level security as defence in depth (issue 11, item 8; docs/decisions/0009-row-level-security.md):
// the gateway's data access runs as a role that owns no table, and a query that forgets its
// tenant filter still sees, and can write, only the tenant its transaction set.
const STRICT = { type: 'object', required: ['amount'], properties: { amount: { type: 'number', exclusiveMinimum: 0 } } };

describe('row-level security: the gateway role sees only the tenant of its transaction', () => {
  const p = new Platform('row-security', 3);
  let gateway: Pool;
  let acmeKey: string;

  // The pool exactly as the gateway builds it (apps/gateway/src/pools.ts, from its own config);
  // one connection, so every statement below reuses the connection of the one before.
  const gatewayConfig = () => loadGatewayConfig({ ...p.env(), DATABASE_POOL_SIZE: '1' });

  const sqlState = (e: unknown) => (e as { code?: string }).code;
  const refused = async (work: () => Promise<unknown>): Promise<string | undefined> => {
    try {
      await work();
    } catch (e) {
      return sqlState(e);
    }
    return undefined;
  };

  beforeAll(async () => {
    // Events accepted while no processor runs; then a strict schema for `payment`, so each
    // tenant's payment with a negative amount becomes a dead letter when processed.
    await p.start({ processors: 0 });
    acmeKey = await p.tenant('acme', ['ingest', 'read', 'admin']);
    const globexKey = await p.tenant('globex', ['ingest', 'read', 'admin']);
    for (const [key, prefix] of [[acmeKey, 'a'], [globexKey, 'g']]) {
      expect((await p.request('PUT', '/v1/schemas/order.created', { key, body: { type: 'object' } })).status).toBe(200);
      const events: object[] = [1, 2].map((i) => ({ id: `${prefix}-${i}`, type: 'order.created', subject: `${prefix}-order`, data: { n: i } }));
      events.push({ id: `${prefix}-bad`, type: 'payment', subject: `${prefix}-cart`, data: { amount: -1 } });
      // A repeat of an id: a duplicate count for each tenant.
      events.push(events[0]);
      expect((await p.request('POST', '/v1/events', { key, body: events })).status).toBe(202);
      expect((await p.request('PUT', '/v1/schemas/payment', { key, body: STRICT })).status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 2100)); // the processor's schema cache
    await p.startProcessor();
    await waitFor('both tenants processed', async () => {
      const r = await p.db.query(`SELECT count(*)::int AS n FROM dead_letters`);
      const e = await p.db.query(`SELECT count(*)::int AS n FROM events`);
      const d = await p.db.query(`SELECT count(*)::int AS n FROM duplicate_counts`);
      return r.rows[0].n === 2 && e.rows[0].n === 6 && d.rows[0].n === 2;
    });
    gateway = tenantPool(gatewayConfig());
  }, 120_000);

  afterAll(async () => {
    await gateway?.end();
    await p.stop();
  });

  // Every table that holds a tenant's rows, read with no tenant filter at all.
  const TENANT_TABLES = ['events', 'event_ids', 'streams', 'dead_letters', 'duplicate_counts', 'event_counts', 'event_schemas'];

  it('a query without a tenant filter, through the gateway repository and helper, sees only the tenant set', async () => {
    expect((await gateway.query(`SELECT current_user AS u`)).rows[0].u).toBe(gatewayConfig().gatewayRole);
    const ids = await withTenant(gateway, 'acme', async (tx) => (await tx.query(`SELECT event_id FROM events ORDER BY event_id`)).rows.map((r) => r.event_id));
    expect(ids).toEqual(['a-1', 'a-2', 'a-bad']);
    for (const table of TENANT_TABLES) {
      const tenants = await withTenant(gateway, 'globex', async (tx) => (await tx.query(`SELECT DISTINCT tenant_id FROM ${table}`)).rows.map((r) => r.tenant_id));
      expect({ table, tenants }).toEqual({ table, tenants: ['globex'] });
    }
    // The repository the query API uses: another tenant's event id answers like a missing one,
    // even when the repository is asked for that tenant's id with its own tenant's transaction.
    const events = new EventsRepository(gateway);
    expect(await events.get('acme', 'g-1')).toBeNull();
    expect((await events.get('acme', 'a-1'))?.id).toBe('a-1');
  });

  it('with no tenant set it sees nothing, and a tenant set in one transaction does not outlive it on the connection', async () => {
    await withTenant(gateway, 'acme', (tx) => tx.query(`SELECT 1`));
    for (const table of TENANT_TABLES) {
      const n = (await gateway.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
      expect({ table, n }).toEqual({ table, n: 0 });
    }
    // The owner (processor, CLI) is not held to the policies.
    expect((await p.db.query(`SELECT count(DISTINCT tenant_id)::int AS n FROM events`)).rows[0].n).toBe(2);
  });

  it('the gateway role cannot delete or truncate events nor change their content, and writes only its own tenant\'s rows', async () => {
    const asAcme = (sql: string, params: unknown[] = []) => refused(() => withTenant(gateway, 'acme', (tx) => tx.query(sql, params)));
    expect(await asAcme(`DELETE FROM events`)).toBe('42501');
    expect(await asAcme(`TRUNCATE events`)).toBe('42501');
    expect(await asAcme(`UPDATE events SET data = '{"n": 0}'`)).toBe('42501');
    expect(await asAcme(`UPDATE events SET tenant_id = 'acme'`)).toBe('42501');
    expect(await asAcme(`DELETE FROM dead_letters`)).toBe('42501');
    // Lifecycle columns (a dead-letter retry moves status/sequence) only within the tenant:
    // another tenant's rows are invisible to the UPDATE, and no row may be written into it.
    const moved = await withTenant(gateway, 'acme', (tx) => tx.query(`UPDATE events SET status = 'discarded' WHERE tenant_id = 'globex'`));
    expect(moved.rowCount).toBe(0);
    expect(await asAcme(`INSERT INTO event_schemas (tenant_id, type, schema) VALUES ('globex', 'x', '{}')`)).toBe('42501');
    expect(await asAcme(`UPDATE event_schemas SET version = 99 WHERE tenant_id = 'globex'`)).toBeUndefined();
    expect((await p.db.query(`SELECT count(*)::int AS n FROM events WHERE tenant_id = 'globex' AND status = 'discarded'`)).rows[0].n).toBe(0);
    expect((await p.db.query(`SELECT max(version)::int AS v FROM event_schemas WHERE tenant_id = 'globex'`)).rows[0].v).toBe(1);
    // Nothing at all on tenants and API keys: keys are found one hash at a time, never listed.
    expect(await asAcme(`SELECT * FROM api_keys`)).toBe('42501');
    expect(await asAcme(`SELECT * FROM tenants`)).toBe('42501');
    const keys = keyPool(gatewayConfig());
    try {
      const found = await keys.query(`SELECT tenant_id, roles FROM tributary_api_key($1)`, [hashApiKey(acmeKey)]);
      expect(found.rows).toEqual([{ tenant_id: 'acme', roles: ['ingest', 'read', 'admin'] }]);
    } finally {
      await keys.end();
    }
  });

  it('every table with a tenant_id column has the tenant policy; the role holds privileges on no other table', async () => {
    const role = gatewayConfig().gatewayRole;
    const tables = await p.db.query<{ table: string; rls: boolean; policy: string | null; tenant: boolean; privileged: boolean }>(
      `SELECT c.relname AS table, c.relrowsecurity AS rls,
              (SELECT pg_get_expr(pol.polqual, pol.polrelid) FROM pg_policy pol WHERE pol.polrelid = c.oid AND pol.polname = 'tenant_isolation') AS policy,
              EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant,
              has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                OR has_any_column_privilege($1, c.oid, 'SELECT, INSERT, UPDATE') AS privileged
         FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY 1`,
      [role],
    );
    // projection_state: one row per projection; its tenant_id is a rebuild's scope, not an owner.
    const policed = tables.rows.filter((t) => t.tenant && t.table !== 'projection_state');
    expect(policed.map((t) => t.table).sort()).toEqual([...TENANT_TABLES, 'api_keys'].sort());
    for (const t of policed) expect({ table: t.table, rls: t.rls, policy: t.policy }).toEqual({ table: t.table, rls: true, policy: "(tenant_id = current_setting('tributary.tenant'::text, true))" });
    const readable = tables.rows.filter((t) => t.privileged).map((t) => t.table);
    expect(readable.sort()).toEqual([...TENANT_TABLES, 'projection_state'].sort());
    // Partitions are reached through `events` only: the role may not read one directly.
    const partitions = await p.db.query<{ table: string }>(`SELECT c.relname AS table FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' AND c.relispartition`);
    expect(partitions.rows.length).toBeGreaterThan(0);
    for (const { table } of partitions.rows) expect(await refused(() => withTenant(gateway, 'acme', (tx) => tx.query(`SELECT 1 FROM "${table}"`)))).toBe('42501');
  });

  it('a rebuild\'s new projection table has the policy and the grants too', async () => {
    const before = await withTenant(gateway, 'acme', async (tx) => (await tx.query(`SELECT DISTINCT tenant_id FROM event_counts`)).rows);
    const rebuilt = await p.cliWith({ TRIBUTARY_TEST_COUNTS_VERSION: '2' }, 'rebuild', 'counts', '--json');
    expect(rebuilt.code).toBe(0);
    const state = await p.db.query(`SELECT live_version FROM projection_state WHERE name = 'counts'`);
    expect(state.rows[0].live_version).toBe(2);
    // The live table is the shadow, renamed in: a different relation than the migration made.
    const table = (await p.db.query(`SELECT c.relrowsecurity AS rls, (SELECT count(*)::int FROM pg_policy WHERE polrelid = c.oid) AS policies FROM pg_class c WHERE c.oid = 'event_counts'::regclass`)).rows[0];
    expect(table).toEqual({ rls: true, policies: 1 });
    const after = await withTenant(gateway, 'acme', async (tx) => (await tx.query(`SELECT DISTINCT tenant_id FROM event_counts`)).rows);
    expect(after).toEqual(before);
    expect(after).toEqual([{ tenant_id: 'acme' }]);
    expect((await gateway.query(`SELECT count(*)::int AS n FROM event_counts`)).rows[0].n).toBe(0);
    // And the gateway's route still answers from it, for the caller's tenant only.
    const counts = await p.request('GET', '/v1/stats/counts?bucket=day', { key: acmeKey });
    expect(counts.status).toBe(200);
    expect(counts.body.series.reduce((n: number, s: { count: number }) => n + s.count, 0)).toBe(2);
    // A dead-letter discard through the gateway runs as the gateway role too, in the caller's tenant.
    const dl = await p.request('GET', '/v1/dead-letters', { key: acmeKey });
    expect(dl.body.items).toHaveLength(1);
    const discard = await p.request('POST', `/v1/dead-letters/${dl.body.items[0].id}/discard`, { key: acmeKey });
    expect(discard.status).toBe(202);
    expect((await p.db.query(`SELECT status FROM events WHERE tenant_id = 'acme' AND event_id = 'a-bad'`)).rows[0].status).toBe('discarded');
  }, 60_000);

  it('the gateway refuses to start as a role that row-level security does not hold (the tables\' owner)', async () => {
    const owner = (await p.db.query(`SELECT current_user AS u`)).rows[0].u;
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/gateway/src/main.js')], {
      env: p.env({ DATABASE_GATEWAY_ROLE: owner, PORT: '0', OPS_PORT: '0', HOST: '127.0.0.1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toContain('row-level security would not hold it');
  }, 60_000);
  it('a migrating user who may not create roles is told which role to create, and once it exists the migration grants it', async () => {
    // Production: the DBA creates the role. Roles are cluster-wide: names unique to this run, dropped at the end.
    const id = p.schema.slice(-8);
    const [login, role, schema] = [`rs_migrator_${id}`, `rs_gateway_${id}`, `rs_prod_${id}`];
    await p.db.query(`CREATE ROLE ${login} LOGIN NOSUPERUSER NOCREATEROLE`);
    try {
      // It may create its schema (migrate() does), as the owner of a production database may.
      const database = (await p.db.query(`SELECT current_database() AS d`)).rows[0].d;
      await p.db.query(`GRANT CREATE ON DATABASE "${database}" TO ${login}`);
      const url = new URL(p.env().DATABASE_URL!);
      url.username = login;
      const db = { url: url.toString(), schema, poolSize: 1, statementTimeoutMs: 0, idleInTransactionTimeoutMs: 0 };
      await expect(migrate(db, { gatewayRole: role })).rejects.toThrow(`role "${role}" does not exist and "${login}" may not create it`);
      await p.db.query(`CREATE ROLE ${role} NOLOGIN`);
      await migrate(db, { gatewayRole: role });
      const granted = await p.db.query(`SELECT has_table_privilege($1, $2, 'SELECT') AS read, has_table_privilege($1, $2, 'DELETE') AS del`, [role, `${schema}.events`]);
      expect(granted.rows[0]).toEqual({ read: true, del: false });
    } finally {
      await p.db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await p.db.query(`DROP OWNED BY ${login}`).catch(() => undefined);
      await p.db.query(`DROP ROLE IF EXISTS ${login}`);
      await p.db.query(`DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN EXECUTE 'DROP OWNED BY ${role}'; END IF; END $$`);
      await p.db.query(`DROP ROLE IF EXISTS ${role}`);
    }
  }, 60_000);
});
