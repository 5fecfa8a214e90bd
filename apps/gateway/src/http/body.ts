import { ErrorCode, FieldError, TributaryError } from '@tributary/contracts/errors';
import { unstorableText } from '@tributary/contracts/storable';

/**
 * Bodies arrive as raw Buffers (one parser for every content type); JSON endpoints use this.
 * Every such body (tenant, key, schema) is stored in Postgres, whose text and jsonb hold no NUL
 * and no unpaired surrogate: a body carrying one is refused here, at its path, not by the INSERT (500).
 */
export function jsonObjectBody(body: unknown): Record<string, unknown> {
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new TributaryError(ErrorCode.ValidationFailed, 'a JSON object body is required', [{ path: '/', message: 'is required' }]);
  }
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new TributaryError(ErrorCode.MalformedJson, `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new TributaryError(ErrorCode.ValidationFailed, 'the body must be a JSON object', [{ path: '/', message: 'must be an object' }]);
  }
  const bad = unstorableText(v);
  if (bad) throw invalid([{ path: bad.at || '/', message: bad.message }]);
  return v as Record<string, unknown>;
}

export function invalid(errors: FieldError[]): TributaryError {
  return new TributaryError(ErrorCode.ValidationFailed, errors.map((e) => `${e.path} ${e.message}`).join('; '), errors);
}
