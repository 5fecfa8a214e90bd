import { Pool, PoolClient } from 'pg';
import type { DatabaseConfig } from '@tributary/config/config';

/** Anything that runs SQL: the pool or a client inside a transaction. */
export interface Queryable {
  query<R extends Record<string, any> = any>(sql: string, params?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

/**
 * Session settings for every connection: the configured schema first, then public (extensions
 * live there); UTC so that date_trunc buckets are the same whatever the server's time zone.
 */
export function sessionOptions(schema: string): string {
  return `-c search_path=${schema},public -c timezone=UTC`;
}

/**
 * Every pool of every app is made here. Each connection starts with the configured
 * statement_timeout and idle_in_transaction_session_timeout (startup parameters, so they hold
 * from the first statement): a statement stuck on a lock or a runaway plan is cancelled
 * (SQLSTATE 57014) and a transaction whose holder stalled is ended (57P05) instead of keeping a
 * connection, and its locks, forever.
 */
export function createPool(db: DatabaseConfig, applicationName: string): Pool {
  const pool = new Pool({
    connectionString: db.url,
    max: db.poolSize,
    options: sessionOptions(db.schema),
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
export async function inTransaction<T>(pool: Pool, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
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
    client.release(broken);
  }
}
