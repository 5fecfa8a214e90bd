/**
 * The processor's two failure classes.
 *  - permanent: this event's content is at fault; the same event fails every attempt, so it is
 *    narrowed down and dead-lettered (an explicit PoisonEventError, or Postgres refusing the
 *    data itself: SQLSTATE class 22 "data exception", 23 "integrity constraint", 54 "program
 *    limit exceeded", e.g. an index row too large).
 *  - transient: everything else — Postgres unreachable or restarting, serialization failures,
 *    broker leader changes, timeouts, and failures not proven to be the event's fault (a missing
 *    table after a bad deploy must stop the partition, not dead-letter every event). Retried
 *    with backoff, the partition paused, never skipped.
 */
export type FailureClass = 'transient' | 'permanent';

/** Thrown by code (a projection, a rule) that knows this event can never be applied. */
export class PoisonEventError extends Error {
  constructor(message: string, readonly stage = 'poison') {
    super(message);
    this.name = 'PoisonEventError';
  }
}

const PERMANENT_SQLSTATE_CLASSES = new Set(['22', '23', '54']);

export function classifyFailure(e: unknown): FailureClass {
  if (e instanceof PoisonEventError) return 'permanent';
  const code = (e as { code?: unknown })?.code;
  // pg errors carry a five-character SQLSTATE; node's network errors carry E-codes (ECONNREFUSED …).
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && PERMANENT_SQLSTATE_CLASSES.has(code.slice(0, 2))) return 'permanent';
  return 'transient';
}

/** The stage a dead letter records for a permanent failure. */
export function failureStage(e: unknown): string {
  return e instanceof PoisonEventError ? e.stage : 'store';
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);

/** Postgres is down, restarting or unreachable (not: a query was wrong). HTTP answers 503 for these. */
export function isDatabaseUnavailable(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && (UNREACHABLE.has(code) || code.startsWith('08'))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(String((e as Error)?.message ?? ''));
}
