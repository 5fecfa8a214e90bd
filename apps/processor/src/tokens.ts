export const PROCESSOR_CONFIG = Symbol('PROCESSOR_CONFIG');
export const PG_POOL = Symbol('PG_POOL');
