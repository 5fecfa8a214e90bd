import type { Pool } from 'pg';
import { LruCache } from '@tributary/contracts/lru-cache';
import { SingleFlight } from '@tributary/contracts/single-flight';
import { RegisteredSchema, SCHEMA_LIMITS } from '@tributary/contracts/tenant-schema';
import { Queryable, withTenant } from './database';

// Registered schemas are read through a short cache; a new version is in force everywhere within this.
const CACHE_MS = 2000;

interface Cached {
  value: RegisteredSchema | undefined;
  until: number;
}

/** Per-tenant JSON Schemas by event type. */
export class SchemasRepository {
  // Bounded: the keys are tenants' event types, which tenants choose.
  private readonly cache = new LruCache<string, Cached>(10000);
  private readonly loads = new SingleFlight<string, RegisteredSchema | undefined>();

  constructor(private readonly pool: Pool) {}

  /**
   * Registers a new version of the tenant's schema for `type`; null when the tenant already has
   * SCHEMA_LIMITS.typesPerTenant other types with a schema (concurrent first registrations of
   * new types may pass the cap by a few).
   */
  async put(tenant: string, type: string, schema: object): Promise<number | null> {
    const r = await withTenant(this.pool, tenant, (tx) =>
      tx.query<{ version: number }>(
        `INSERT INTO event_schemas (tenant_id, type, schema)
         SELECT $1, $2, $3
          WHERE EXISTS (SELECT 1 FROM event_schemas WHERE tenant_id = $1 AND type = $2)
             OR (SELECT count(*) FROM event_schemas WHERE tenant_id = $1) < $4
         ON CONFLICT (tenant_id, type) DO UPDATE SET schema = EXCLUDED.schema, version = event_schemas.version + 1, updated_at = now()
         RETURNING version`,
        [tenant, type, JSON.stringify(schema), SCHEMA_LIMITS.typesPerTenant],
      ),
    );
    this.cache.delete(`${tenant}\u0000${type}`);
    return r.rows[0]?.version ?? null;
  }

  /**
   * The schema in force for (tenant, type). Inside a transaction pass its client as `db`: taking a
   * second connection from the pool while holding one deadlocks a pool under load (a caller held
   * to row-level security sets the tenant in that transaction: withTenant). Without `db` the
   * lookup runs in a transaction of its own for the tenant; only cache misses pay for it.
   * Concurrent misses of one key share one query.
   */
  async get(tenant: string, type: string, db?: Queryable): Promise<RegisteredSchema | undefined> {
    const key = `${tenant}\u0000${type}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const until = Date.now() + CACHE_MS;
    return this.loads.run(key, async () => {
      const lookup = (q: Queryable) =>
        q.query<{ schema: object; version: number }>(`SELECT schema, version FROM event_schemas WHERE tenant_id = $1 AND type = $2`, [tenant, type]);
      const r = await (db ? lookup(db) : withTenant(this.pool, tenant, lookup));
      const value = r.rows[0] ? { schema: r.rows[0].schema, version: r.rows[0].version } : undefined;
      this.cache.set(key, { value, until });
      return value;
    });
  }
}
