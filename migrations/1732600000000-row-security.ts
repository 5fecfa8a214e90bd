import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Row-level security as defence in depth (docs/decisions/0009-row-level-security.md).
 *
 * - Every table holding a tenant's rows gets RLS and one policy: a row is visible to, and may be
 *   written by, a role that is held to policies only when its tenant_id is the transaction's
 *   `tributary.tenant` setting (set by withTenant, libs/store/src/database.ts). Not FORCEd: the
 *   owner of the tables (the migrating user, which the processor and the CLI connect as) writes
 *   every tenant's rows and is not held to it.
 * - The gateway's role (session setting tributary.gateway_role, from DATABASE_GATEWAY_ROLE) is
 *   created NOLOGIN when absent, if this user may; the gateway connects with DATABASE_URL and acts
 *   as it (`-c role=…` at connection start). It gets only what the gateway does: reads, schema
 *   writes, and the dead-letter retry/discard writes (event lifecycle columns, streams, dead
 *   letters, projection rows). No DELETE or TRUNCATE anywhere; nothing on tenants or api_keys.
 * - API keys are found before any tenant is known, through one SECURITY DEFINER function that
 *   answers for exactly one key hash: the role can look a key up but never list keys.
 *
 * Roles are cluster-wide and several schemas (one per test file) migrate at once: the role is
 * created idempotently, grants are per schema.
 */
export class RowSecurity1732600000000 implements MigrationInterface {
  name = 'RowSecurity1732600000000';

  async up(q: QueryRunner): Promise<void> {
    const role = await gatewayRole(q);
    const schema = await q.query(`SELECT quote_ident(current_schema()) AS s`).then((r: { s: string }[]) => r[0].s);
    await q.query(`
      DO $$
      DECLARE
        r text := ${literal(role)};
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
          IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'role "%" does not exist and "%" may not create it: create it (CREATE ROLE % NOLOGIN) and GRANT it to the gateway''s database user, then migrate again (docs/operations.md, "Row-level security")', r, current_user, r;
          END IF;
          BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', r);
          EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created meanwhile by a migration of another schema
          END;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r AND (rolsuper OR rolbypassrls)) THEN
          RAISE EXCEPTION 'role "%" is a superuser or has BYPASSRLS: row-level security would not hold it', r;
        END IF;
        -- The gateway acts as the role with the migrating user's login (local dev, tests); in
        -- production the DBA may grant it to the gateway's own login instead.
        IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
          BEGIN
            EXECUTE format('GRANT %I TO %I', r, current_user);
          EXCEPTION
            WHEN insufficient_privilege THEN
              RAISE NOTICE 'could not grant role "%" to "%": grant it to the gateway''s database user', r, current_user;
            WHEN duplicate_object OR unique_violation THEN
              NULL;
          END;
        END IF;
      END $$`);

    for (const table of TENANT_TABLES) {
      await q.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`);
      await q.query(`CREATE POLICY tenant_isolation ON ${table} USING (${TENANT_MATCH}) WITH CHECK (${TENANT_MATCH})`);
    }

    const to = `TO ${ident(role)}`;
    await q.query(`GRANT USAGE ON SCHEMA ${schema} ${to}`);
    for (const g of GRANTS) await q.query(`GRANT ${g.privileges} ON ${g.table} ${to}`);
    await q.query(`GRANT USAGE ON SEQUENCE events_applied_seq, dead_letters_id_seq ${to}`);

    // Pinned search_path: a SECURITY DEFINER function must not resolve names through the caller's
    // path (pg_temp last, so a temporary table cannot stand in for api_keys).
    await q.query(`
      CREATE FUNCTION tributary_api_key(key_hash bytea) RETURNS TABLE (key_id uuid, tenant_id text, roles text[])
      LANGUAGE sql STABLE SECURITY DEFINER SET search_path = ${schema}, pg_temp
      AS $$ SELECT k.id, k.tenant_id, k.roles FROM ${schema}.api_keys k WHERE k.key_hash = $1 AND k.revoked_at IS NULL $$`);
    await q.query(`REVOKE ALL ON FUNCTION tributary_api_key(bytea) FROM PUBLIC`);
    await q.query(`GRANT EXECUTE ON FUNCTION tributary_api_key(bytea) ${to}`);
  }

  async down(q: QueryRunner): Promise<void> {
    const role = ident(await gatewayRole(q));
    const schema = await q.query(`SELECT quote_ident(current_schema()) AS s`).then((r: { s: string }[]) => r[0].s);
    await q.query(`DROP FUNCTION IF EXISTS tributary_api_key(bytea)`);
    await q.query(`REVOKE ALL ON SEQUENCE events_applied_seq, dead_letters_id_seq FROM ${role}`);
    for (const g of GRANTS) await q.query(`REVOKE ALL ON ${g.table} FROM ${role}`);
    await q.query(`REVOKE USAGE ON SCHEMA ${schema} FROM ${role}`);
    for (const table of TENANT_TABLES) {
      await q.query(`DROP POLICY IF EXISTS tenant_isolation ON ${table}`);
      await q.query(`ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY`);
    }
    // The role stays: it is cluster-wide and other schemas may use it.
  }
}

const TENANT_MATCH = `tenant_id = current_setting('tributary.tenant', true)`;

/** Every table with a tenant's rows (projection_state's tenant_id is a rebuild's scope, not an owner). */
const TENANT_TABLES = ['events', 'event_ids', 'streams', 'dead_letters', 'duplicate_counts', 'event_counts', 'event_schemas', 'api_keys'];

/**
 * What the gateway does and nothing more. Reads: the query API, stats, dead letters, schemas,
 * projections. Writes: schema registration; a dead-letter retry/discard (DeadLettersService)
 * stores a refused event, moves events through their lifecycle (status, sequence, applied_seq:
 * never their content), advances the stream, records dead letters and applies projections.
 */
const GRANTS = [
  { table: 'events', privileges: 'SELECT, INSERT, UPDATE (status, sequence, applied_seq)' },
  { table: 'event_ids', privileges: 'SELECT' },
  { table: 'streams', privileges: 'SELECT, UPDATE (last_sequence, blocked_by)' },
  { table: 'dead_letters', privileges: 'SELECT, INSERT, UPDATE (status, attempts, stage, error, updated_at)' },
  { table: 'duplicate_counts', privileges: 'SELECT' },
  { table: 'event_counts', privileges: 'SELECT, INSERT, UPDATE (count)' },
  { table: 'event_schemas', privileges: 'SELECT, INSERT, UPDATE (schema, version, updated_at)' },
  // Not a tenant's table: one row per projection; GET /v1/projections filters what a tenant sees.
  { table: 'projection_state', privileges: 'SELECT, INSERT' },
];

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The gateway role's name, given by migrate() as a session setting. */
async function gatewayRole(q: QueryRunner): Promise<string> {
  const r: { role: string | null }[] = await q.query(`SELECT current_setting('tributary.gateway_role', true) AS role`);
  const role = r[0]?.role;
  if (!role) throw new Error('tributary.gateway_role is not set: run the migrations with migrate() (npm run migrate)');
  if (!ROLE_NAME.test(role)) throw new Error(`gateway role '${role}' is not a lowercase SQL identifier`);
  return role;
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
