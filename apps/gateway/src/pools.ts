import type { Pool } from 'pg';
import type { GatewayConfig } from '@tributary/config/config';
import { createPool } from '@tributary/store/database';

/**
 * The gateway's three pools (docs/decisions/0009-row-level-security.md). The tenant routes and
 * the key lookups act as DATABASE_GATEWAY_ROLE, which owns no table: row-level security holds
 * each transaction to the tenant withTenant sets, and with none set it sees no tenant's rows.
 * The operator routes (tenants and keys of every tenant) use the login user itself.
 */
export function tenantPool(cfg: GatewayConfig): Pool {
  return createPool(cfg.db, 'tributary-gateway', { role: cfg.gatewayRole });
}

/** Key lookups on their own few connections: a main pool held by slow reads or retries cannot stop authentication. */
export function keyPool(cfg: GatewayConfig): Pool {
  return createPool({ ...cfg.db, poolSize: cfg.keyPoolSize }, 'tributary-gateway-keys', { role: cfg.gatewayRole });
}

/** Operator calls are rare and short: two connections. */
export function adminPool(cfg: GatewayConfig): Pool {
  return createPool({ ...cfg.db, poolSize: 2 }, 'tributary-gateway-admin');
}
