import { Pool, PoolClient } from 'pg';
import type { DatabaseConfig } from '@tributary/config/config';

/** Anything that runs SQL: the pool or a client inside a transaction. */
export interface Queryable {
  query<R extends Record<string, any> = any>(sql: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

/**
 * Session settings for every connection: the configured schema first, then public (extensions
 * live there); UTC so that date_trunc buckets are the same whatever the server's time zone.
 * With `role`, the session acts as that role from its first statement (the gateway's tenant
 * pools, docs/decisions/0009-row-level-security.md): a startup parameter rather than a SET ROLE
 * after connecting, so a login that may not act as it fails to connect instead of quietly
 * running as the tables' owner.
 */
export function sessionOptions(schema: string, role?: string): string {
  return `-c search_path=${schema},public -c timezone=UTC${role ? ` -c role=${role}` : ''}`;
}

/** The transaction setting row-level security policies compare tenant_id with (migrations/1732600000000-row-security.ts). */
export const TENANT_SETTING = 'tributary.tenant';

/**
 * Every pool of every app is made here. Each connection starts with the configured
 * statement_timeout and idle_in_transaction_session_timeout (startup parameters, so they hold
 * from the first statement): a statement stuck on a lock or a runaway plan is cancelled
 * (SQLSTATE 57014) and a transaction whose holder stalled is ended (57P05) instead of keeping a
 * connection, and its locks, forever.
 */
export function createPool(db: DatabaseConfig, applicationName: string, opts: { role?: string } = {}): Pool {
  const pool = new Pool({
    connectionString: db.url,
    max: db.poolSize,
    options: sessionOptions(db.schema, opts.role),
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    // pg sends these only when non-zero; 0 leaves the server's default (no limit).
    statement_timeout: db.statementTimeoutMs,
    idle_in_transaction_session_timeout: db.idleInTransactionTimeoutMs,
  });
  // An idle client losing its connection (Postgres restart) must not crash the process.
  pool.on('error', () => undefined);
  return pool;
}

/** Runs `work` in one transaction; rolls back on any error. */
export function inTransaction<T>(pool: Pool, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  return transaction(pool, 'BEGIN', work);
}

/**
 * Runs `work` in one transaction in which `tributary.tenant` is `tenant` (SET LOCAL: it ends with
 * the transaction, so a pooled connection never carries one request's tenant into the next).
 * Every read and write of the gateway's tenant routes goes through here; for a role held to the
 * row-level security policies (the gateway's) no statement in `work` can see or write another
 * tenant's rows, whatever its WHERE clause. For the tables' owner (processor, CLI) the setting
 * is inert. BEGIN and the setting travel in one round trip.
 */
export function withTenant<T>(pool: Pool, tenant: string, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  return transaction(pool, (c) => `BEGIN; SELECT set_config('${TENANT_SETTING}', ${c.escapeLiteral(tenant)}, true)`, work);
}

async function transaction<T>(pool: Pool, begin: string | ((c: PoolClient) => string), work: (tx: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A checked-out client has no 'error' listener (pg-pool removes its idle one on checkout), so a
  // connection dying mid-transaction (Postgres crashing) was an unhandled 'error' event that
  // killed the process; the query in flight still rejects, and the client is discarded.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query(typeof begin === 'string' ? begin : begin(client));
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    try {
      await client.query('ROLLBACK');
    } catch {
      broken = true;
    }
    throw e;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
