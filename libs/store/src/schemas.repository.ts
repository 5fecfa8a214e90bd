import type { Pool } from 'pg';
import type { RegisteredSchema } from '@tributary/contracts/event-rules';

// Registered schemas are read through a short cache; a new version is in force everywhere within this.
const CACHE_MS = 2000;

/** Per-tenant JSON Schemas by event type. */
export class SchemasRepository {
  private readonly cache = new Map<string, { value: RegisteredSchema | undefined; until: number }>();

  constructor(private readonly pool: Pool) {}

  async put(tenant: string, type: string, schema: object): Promise<number> {
    const r = await this.pool.query<{ version: number }>(
      `INSERT INTO event_schemas (tenant_id, type, schema) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, type) DO UPDATE SET schema = EXCLUDED.schema, version = event_schemas.version + 1, updated_at = now()
       RETURNING version`,
      [tenant, type, JSON.stringify(schema)],
    );
    this.cache.delete(`${tenant}\u0000${type}`);
    return r.rows[0].version;
  }

  async get(tenant: string, type: string): Promise<RegisteredSchema | undefined> {
    const key = `${tenant}\u0000${type}`;
    const hit = this.cache.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const r = await this.pool.query<{ schema: object; version: number }>(`SELECT schema, version FROM event_schemas WHERE tenant_id = $1 AND type = $2`, [tenant, type]);
    const value = r.rows[0] ? { schema: r.rows[0].schema, version: r.rows[0].version } : undefined;
    this.cache.set(key, { value, until: Date.now() + CACHE_MS });
    return value;
  }
}
