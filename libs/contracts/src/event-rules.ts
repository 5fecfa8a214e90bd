import type { FieldError } from './errors';
import { RegisteredSchema, schemaChecker, SchemaUnusableError } from './tenant-schema';

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

/**
 * What an event's data must pass to be accepted (gateway, backfill): the tenant's JSON Schema, then
 * the business rules. A schema that cannot judge data (over its limits or its time budget) refuses
 * the event, naming why: it is the tenant's own schema, so the error is theirs to see.
 */
export async function dataErrors(tenant: string, type: string, schema: RegisteredSchema | undefined, data: unknown, dataPath: string): Promise<FieldError[]> {
  let schemaErrors: FieldError[];
  try {
    schemaErrors = await schemaChecker.check(tenant, type, schema, data, dataPath);
  } catch (e) {
    if (!(e instanceof SchemaUnusableError)) throw e;
    schemaErrors = [{ path: dataPath, message: e.message }];
  }
  return [...schemaErrors, ...checkRules(type, data, dataPath)];
}
