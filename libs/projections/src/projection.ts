import type { Queryable } from '@tributary/store/database';

/** An event as projections see it: stored, deduplicated, with its stream position. */
export interface ProjectedEvent {
  tenant: string;
  id: string;
  type: string;
  subject: string | null;
  sequence: number | null;
  time: Date;
  data: unknown;
}

/**
 * A projection folds events into a delta with a pure `evolve`, then `write`s the delta in the
 * caller's transaction. The processor and the replay app run the very same objects, so a
 * rebuild produces exactly what live processing produced. Unknown events leave the delta as is.
 */
export interface Projection<Delta> {
  readonly name: string;
  /** Bumped when the projection's meaning changes; `tributary rebuild` then builds the new version. */
  readonly version: number;
  /** The live table; rebuilds write a shadow copy (`CREATE TABLE … (LIKE table)`) and rename it in. */
  readonly table: string;
  /** Columns holding the tenant and the (event-time) bucket, so `rebuild --tenant/--from/--to` can replace just those rows. */
  readonly scope: { tenantColumn: string; timeColumn: string; timeUnitMs: number };
  /** Event types it reacts to; '*' for all. */
  readonly handles: readonly string[] | '*';
  init(): Delta;
  evolve(delta: Delta, event: ProjectedEvent): Delta;
  /** Writes into `table` (the live one unless a rebuild names its shadow). */
  write(db: Queryable, delta: Delta, table: string): Promise<void>;
}

export function handles(p: Projection<unknown>, type: string): boolean {
  return p.handles === '*' || p.handles.includes(type);
}

/** Applies events (in log order) to a projection inside the caller's transaction. */
export async function applyProjection<D>(p: Projection<D>, db: Queryable, events: readonly ProjectedEvent[], table = p.table): Promise<void> {
  let delta = p.init();
  for (const e of events) if (handles(p as Projection<unknown>, e.type)) delta = p.evolve(delta, e);
  await p.write(db, delta, table);
}
