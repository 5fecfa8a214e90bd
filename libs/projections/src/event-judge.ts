import { checkRules } from '@tributary/contracts/event-rules';
import type { FieldError } from '@tributary/contracts/errors';
import { schemaChecker } from '@tributary/contracts/tenant-schema';
import type { AppendedEvent, Judge } from '@tributary/store/event-store.writer';
import type { SchemasRepository } from '@tributary/store/schemas.repository';
import { handles, ProjectedEvent, Projection } from './projection';

/** Projection view of a stored event. */
export function projected(e: AppendedEvent): ProjectedEvent {
  return {
    tenant: e.envelope.tenant,
    id: e.envelope.id,
    type: e.envelope.type,
    subject: e.envelope.subject,
    sequence: e.sequence,
    time: new Date(e.envelope.time),
    data: e.envelope.data,
  };
}

/**
 * The processor's checks of an event, the same on first delivery and on a dead-letter retry:
 * the tenant's JSON Schema for the type, the platform's business rules, then every projection
 * must be able to fold it.
 * Invariant: a check that fails for one event (a schema that does not compile or exceeds its
 * budget, a validator that throws) refuses that event, stage 'schema'; it never fails the batch,
 * which carries other tenants' events and would be retried forever. Only the schema lookup's
 * database errors propagate (they are transient: the batch retries).
 */
export function eventJudge(schemas: SchemasRepository, projections: readonly Projection<any>[]): Judge {
  return async (e, db) => {
    const { tenant, type, data } = e.envelope;
    const schema = await schemas.get(tenant, type, db);
    let errors: FieldError[];
    try {
      errors = await schemaChecker.check(tenant, type, schema, data, '/data');
    } catch (err) {
      return { ok: false, stage: 'schema', error: (err as Error).message };
    }
    if (errors.length) return { ok: false, stage: 'schema', error: errors.map((x) => `${x.path} ${x.message}`).join('; ') };
    const broken = checkRules(type, data, '/data');
    if (broken.length) return { ok: false, stage: 'rule', error: broken.map((x) => `${x.path} ${x.message}`).join('; ') };
    for (const p of projections) {
      if (!handles(p, type)) continue;
      try {
        p.evolve(p.init(), projected({ ...e, sequence: null }));
      } catch (err) {
        return { ok: false, stage: `projection:${p.name}`, error: (err as Error).message };
      }
    }
    return { ok: true };
  };
}
