import type { Pool } from 'pg';
import { generateApiKey, hashApiKey, Principal, Role } from '@tributary/auth/api-keys';

export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
}

/** Tenants and their API keys (hashes only). Shared by the gateway's admin API and the CLI. */
export class TenantsRepository {
  constructor(private readonly pool: Pool) {}

  /** Returns null when the tenant already exists. */
  async create(id: string, name: string): Promise<Tenant | null> {
    const r = await this.pool.query<{ id: string; name: string; created_at: Date }>(
      `INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id, name, created_at`,
      [id, name],
    );
    const row = r.rows[0];
    return row ? { id: row.id, name: row.name, createdAt: row.created_at.toISOString() } : null;
  }

  async exists(id: string): Promise<boolean> {
    const r = await this.pool.query(`SELECT 1 FROM tenants WHERE id = $1`, [id]);
    return r.rowCount === 1;
  }

  async createKey(tenant: string, roles: Role[], name: string | null): Promise<{ id: string; key: string; roles: Role[] }> {
    const k = generateApiKey();
    await this.pool.query(`INSERT INTO api_keys (id, tenant_id, name, key_hash, roles) VALUES ($1, $2, $3, $4, $5)`, [k.id, tenant, name, k.hash, roles]);
    return { id: k.id, key: k.key, roles };
  }

  /** Returns false when no live key with that id belongs to the tenant. */
  async revokeKey(tenant: string, keyId: string): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND id::text = $2 AND revoked_at IS NULL`,
      [tenant, keyId],
    );
    return r.rowCount === 1;
  }

  /**
   * The live key with this secret. Through tributary_api_key (SECURITY DEFINER): the gateway's
   * role finds a key's tenant before any tenant is known, yet holds no privilege on api_keys, so
   * it can look up a key it was given but never list keys or read another tenant's.
   */
  async findByKey(key: string): Promise<Principal | null> {
    const r = await this.pool.query<{ key_id: string; tenant_id: string; roles: Role[] }>(`SELECT key_id, tenant_id, roles FROM tributary_api_key($1)`, [hashApiKey(key)]);
    const row = r.rows[0];
    return row ? { tenant: row.tenant_id, keyId: row.key_id, roles: row.roles } : null;
  }
}
