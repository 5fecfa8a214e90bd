/** Stable, machine-readable error codes; the HTTP edge maps each to a status. */
export enum ErrorCode {
  MalformedJson = 'malformed_json',
  ValidationFailed = 'validation_failed',
  UnsupportedMediaType = 'unsupported_media_type',
  PayloadTooLarge = 'payload_too_large',
  EventTooLarge = 'event_too_large',
  Unauthorized = 'unauthorized',
  Forbidden = 'forbidden',
  NotFound = 'not_found',
  Conflict = 'conflict',
  BrokerUnavailable = 'broker_unavailable',
  DatabaseUnavailable = 'database_unavailable',
  RateLimited = 'rate_limited',
  ShuttingDown = 'shutting_down',
  BadRequest = 'bad_request',
}

export interface FieldError {
  /** JSON path of the offending field, e.g. `/events/3/type` (RFC 6901 pointer). */
  path: string;
  message: string;
}

/** One exception type for the domain; HTTP statuses are chosen at the edge. */
export class TributaryError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly errors: FieldError[] = [],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'TributaryError';
  }
}
