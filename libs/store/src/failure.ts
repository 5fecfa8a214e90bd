/**
 * The processor's two failure classes.
 *  - permanent: this event's content is at fault; the same event fails every attempt, so it is
 *    narrowed down and dead-lettered: an explicit PoisonEventError, or Postgres refusing a value
 *    of the event itself with one of PERMANENT_SQLSTATES (a number jsonb cannot hold, text it
 *    cannot store, an index row too large). Only codes a value can cause on its own are listed:
 *    constraint violations (class 23) and the rest of class 22 come from our own schema or code,
 *    that is a deploy bug, and must stop the partition, not dead-letter every event.
 *  - transient: everything else — Postgres unreachable or restarting, serialization failures,
 *    broker leader changes, timeouts, and failures not proven to be the event's fault (a missing
 *    table or a NOT NULL column after a bad deploy). Retried with backoff, the partition paused,
 *    never skipped.
 */
export type FailureClass = 'transient' | 'permanent';

/** Thrown by code (a projection, a rule) that knows this event can never be applied. */
export class PoisonEventError extends Error {
  constructor(message: string, readonly stage = 'poison') {
    super(message);
    this.name = 'PoisonEventError';
  }
}

export const PERMANENT_SQLSTATES = new Set([
  '22001', // string_data_right_truncation
  '22003', // numeric_value_out_of_range (e.g. 1e1000000 in jsonb)
  '22007', // invalid_datetime_format
  '22008', // datetime_field_overflow
  '22021', // character_not_in_repertoire
  '22P02', // invalid_text_representation (e.g. JSON jsonb refuses)
  '22P05', // untranslatable_character (e.g. \u0000 in jsonb)
  '22032', // invalid_json_text
  '54000', // program_limit_exceeded (an index row over the btree limit)
]);

export function classifyFailure(e: unknown): FailureClass {
  if (e instanceof PoisonEventError) return 'permanent';
  const code = (e as { code?: unknown })?.code;
  // pg errors carry a five-character SQLSTATE; node's network errors carry E-codes (ECONNREFUSED …).
  if (typeof code === 'string' && PERMANENT_SQLSTATES.has(code)) return 'permanent';
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
