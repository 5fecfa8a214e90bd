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
  readonly version: number;
  /** Event types it reacts to; '*' for all. */
  readonly handles: readonly string[] | '*';
  init(): Delta;
  evolve(delta: Delta, event: ProjectedEvent): Delta;
  write(db: Queryable, delta: Delta): Promise<void>;
}

export function handles(p: Projection<unknown>, type: string): boolean {
  return p.handles === '*' || p.handles.includes(type);
}

/** Applies events (in log order) to a projection inside the caller's transaction. */
export async function applyProjection<D>(p: Projection<D>, db: Queryable, events: readonly ProjectedEvent[]): Promise<void> {
  let delta = p.init();
  for (const e of events) if (handles(p as Projection<unknown>, e.type)) delta = p.evolve(delta, e);
  await p.write(db, delta);
}
