export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
/** The API-key lookups' own small pool, and the repository reading keys through it. */
export const KEY_POOL = Symbol('KEY_POOL');
export const KEY_LOOKUP = Symbol('KEY_LOOKUP');
/** The operator routes' pool: the login user itself, not the gateway role (tenants and keys of every tenant). */
export const ADMIN_POOL = Symbol('ADMIN_POOL');
