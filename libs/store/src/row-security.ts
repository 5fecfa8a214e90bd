import type { Pool } from 'pg';
import type { Queryable } from './database';

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Gives `target` the row-level security of `source`: RLS on, the same policies, the same grants
 * (table and column privileges, to everyone but the owner). `CREATE TABLE … (LIKE … INCLUDING ALL)`
 * copies none of them, so a projection table built beside the live one (a rebuild's shadow, then
 * renamed in) would otherwise be readable by no one but its owner, or, once granted, by every
 * tenant. Copying what the live table has keeps one definition: the migration that made it.
 */
export async function copyTableSecurity(db: Queryable, source: string, target: string): Promise<void> {
  const src = ident(source);
  const dst = ident(target);
  const rel = (await db.query<{ rls: boolean; force: boolean }>(`SELECT relrowsecurity AS rls, relforcerowsecurity AS force FROM pg_class WHERE oid = $1::regclass`, [src])).rows[0];
  if (rel.rls) await db.query(`ALTER TABLE ${dst} ENABLE ROW LEVEL SECURITY`);
  if (rel.force) await db.query(`ALTER TABLE ${dst} FORCE ROW LEVEL SECURITY`);

  const policies = await db.query<{ name: string; permissive: boolean; cmd: string; roles: string; qual: string | null; check: string | null }>(
    `SELECT p.polname AS name, p.polpermissive AS permissive,
            CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END AS cmd,
            (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', ') FROM unnest(p.polroles) AS r) AS roles,
            pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS check
       FROM pg_policy p WHERE p.polrelid = $1::regclass ORDER BY p.polname`,
    [src],
  );
  for (const p of policies.rows) {
    await db.query(
      `CREATE POLICY ${ident(p.name)} ON ${dst} AS ${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${p.cmd} TO ${p.roles}` +
        `${p.qual ? ` USING (${p.qual})` : ''}${p.check ? ` WITH CHECK (${p.check})` : ''}`,
    );
  }

  // Table privileges from relacl, column privileges from attacl; the owner's own are implicit.
  const grants = await db.query<{ grantee: string; privilege: string; columns: string | null }>(
    `WITH rel AS (SELECT oid, relowner, relacl FROM pg_class WHERE oid = $1::regclass)
     SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee, a.privilege_type AS privilege, NULL AS columns
       FROM rel, aclexplode(rel.relacl) a WHERE a.grantee <> rel.relowner
     UNION ALL
     SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.privilege_type, string_agg(quote_ident(att.attname), ', ' ORDER BY att.attnum)
       FROM rel JOIN pg_attribute att ON att.attrelid = rel.oid, aclexplode(att.attacl) a
      WHERE a.grantee <> rel.relowner AND NOT att.attisdropped
      GROUP BY 1, 2`,
    [src],
  );
  for (const g of grants.rows) {
    await db.query(`GRANT ${g.privilege}${g.columns ? ` (${g.columns})` : ''} ON ${dst} TO ${g.grantee}`);
  }
}

/**
 * The gateway's refusal to start as a role row-level security does not hold: a superuser, a role
 * with BYPASSRLS, or the owner of a tenant table (policies are not FORCEd, so the owner sees every
 * tenant). Run on a tenant-pool connection, so it checks the role the gateway really acts as.
 */
export async function assertHeldToPolicies(pool: Pool): Promise<void> {
  const r = await pool.query<{ role: string; superuser: boolean; bypass: boolean; owns: string[] }>(
    `SELECT r.rolname AS role, r.rolsuper AS superuser, r.rolbypassrls AS bypass,
            array(SELECT c.relname::text FROM pg_class c
                   WHERE c.relnamespace = current_schema()::regnamespace AND c.relrowsecurity AND c.relowner = r.oid ORDER BY 1) AS owns
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const me = r.rows[0];
  const problems = [
    me.superuser ? 'is a superuser' : null,
    me.bypass ? 'has BYPASSRLS' : null,
    me.owns.length ? `owns ${me.owns.join(', ')}` : null,
  ].filter((x): x is string => x !== null);
  if (problems.length) {
    throw new Error(`the gateway's database role '${me.role}' ${problems.join(' and ')}: row-level security would not hold it (DATABASE_GATEWAY_ROLE, docs/operations.md "Row-level security")`);
  }
}
