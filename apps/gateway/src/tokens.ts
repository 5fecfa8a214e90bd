export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
