import Ajv2020, { ErrorObject, ValidateFunction } from 'ajv/dist/2020';
import type { FieldError } from './errors';

/**
 * The checks an event's data must pass, at the gateway (422) and again in the processor (dead
 * letter): the tenant's JSON Schema for the type, when one is registered. Schemas are compiled
 * once per version and cached.
 */
const ajv = new Ajv2020({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();

export interface RegisteredSchema {
  version: number;
  schema: object;
}

/** Throws with a readable message when `schema` is not a valid JSON Schema. */
export function checkSchema(schema: unknown): void {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) throw new Error('a JSON Schema must be an object');
  ajv.compile(schema as object);
}

function validatorFor(key: string, s: RegisteredSchema): ValidateFunction {
  const k = `${key}@${s.version}`;
  let v = compiled.get(k);
  if (!v) {
    v = ajv.compile(s.schema);
    compiled.set(k, v);
  }
  return v;
}

const toFieldError = (base: string) => (e: ErrorObject): FieldError => ({
  path: `${base}${e.instancePath}`,
  message: e.keyword === 'required' ? `must have property '${(e.params as { missingProperty: string }).missingProperty}'` : e.message ?? 'is invalid',
});

/** Field errors of `data` against the schema (empty when valid); paths start at `dataPath`. */
export function checkData(tenant: string, type: string, schema: RegisteredSchema | undefined, data: unknown, dataPath: string): FieldError[] {
  if (!schema) return [];
  const validate = validatorFor(`${tenant}\u0000${type}`, schema);
  return validate(data) ? [] : (validate.errors ?? []).map(toFieldError(dataPath));
}

/**
 * Platform business rules per event type, in code (the tenants' own rules are their JSON
 * Schemas). Checked at the gateway (422) and again in the processor (dead letter, stage 'rule'),
 * so an event written to Kafka by another producer is held to them too. A rule returns field
 * errors with paths relative to `data`.
 */
export const BUSINESS_RULES: Readonly<Record<string, (data: any) => FieldError[]>> = {
  purchase: (data) => (typeof data?.amount === 'number' && data.amount > 0 ? [] : [{ path: '/amount', message: 'a purchase needs a number amount > 0' }]),
};

export function checkRules(type: string, data: unknown, dataPath: string): FieldError[] {
  const rule = BUSINESS_RULES[type];
  return rule ? rule(data).map((e) => ({ path: `${dataPath}${e.path}`, message: e.message })) : [];
}

/** What an event's data must pass to be accepted (gateway, backfill): the tenant's JSON Schema, then the business rules. */
export function dataErrors(tenant: string, type: string, schema: RegisteredSchema | undefined, data: unknown, dataPath: string): FieldError[] {
  return [...checkData(tenant, type, schema, data, dataPath), ...checkRules(type, data, dataPath)];
}
