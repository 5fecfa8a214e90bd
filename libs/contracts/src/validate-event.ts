import { unstorableText } from './storable';
import { DEFAULT_SOURCE, EventInput } from './envelope';
import { FieldError } from './errors';

export const LIMITS = {
  idLength: 128,
  typePattern: /^[A-Za-z0-9._:-]{1,128}$/,
  subjectLength: 256,
  partitionKeyLength: 256,
  sourceLength: 1024,
  /** CloudEvents extension attribute names. */
  extensionName: /^[a-z0-9]{1,20}$/,
};

// RFC 3339 date-time: full date, 'T' (or space is not allowed), time, mandatory offset.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const CORE_FIELDS = new Set(['specversion', 'id', 'type', 'source', 'subject', 'time', 'datacontenttype', 'data', 'partitionkey', 'dataschema']);
const RESERVED = new Set(['tenant', 'receivedat', 'data_base64']);

export type Validated = { ok: true; event: EventInput } | { ok: false; errors: FieldError[] };

export interface ValidateOptions {
  /** CloudEvents modes require `specversion` and `source`; plain JSON makes them optional. */
  cloudEvents: boolean;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates one event as a client sent it. `path` is the JSON pointer of the event inside the
 * request body ('' for a single event), so every error names the exact field.
 */
export function validateEvent(raw: unknown, path: string, opts: ValidateOptions): Validated {
  const errors: FieldError[] = [];
  const at = (field: string) => `${path}/${field}`;
  if (!isPlainObject(raw)) {
    return { ok: false, errors: [{ path: path || '/', message: 'must be a JSON object' }] };
  }

  const str = (field: string, required: boolean, check?: (v: string) => string | null): string | null => {
    const v = raw[field];
    if (v === undefined || v === null) {
      if (required) errors.push({ path: at(field), message: 'is required' });
      return null;
    }
    if (typeof v !== 'string') {
      errors.push({ path: at(field), message: 'must be a string' });
      return null;
    }
    const problem = check?.(v);
    if (problem) {
      errors.push({ path: at(field), message: problem });
      return null;
    }
    return v;
  };

  const specversion = str('specversion', opts.cloudEvents, (v) => (v === '1.0' ? null : 'must be "1.0"'));
  const id = str('id', opts.cloudEvents, (v) =>
    v.length >= 1 && v.length <= LIMITS.idLength ? null : `must be 1-${LIMITS.idLength} characters`,
  );
  const type = str('type', true, (v) =>
    LIMITS.typePattern.test(v) ? null : 'must match ^[A-Za-z0-9._:-]{1,128}$',
  );
  const source = str('source', opts.cloudEvents, (v) =>
    v.length >= 1 && v.length <= LIMITS.sourceLength ? null : `must be 1-${LIMITS.sourceLength} characters`,
  );
  const subject = str('subject', false, (v) =>
    v.length >= 1 && v.length <= LIMITS.subjectLength ? null : `must be 1-${LIMITS.subjectLength} characters`,
  );
  const time = str('time', false, (v) =>
    RFC3339.test(v) && !Number.isNaN(Date.parse(v)) ? null : 'must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z',
  );
  const datacontenttype = str('datacontenttype', false);
  const partitionkey = str('partitionkey', false, (v) =>
    v.length >= 1 && v.length <= LIMITS.partitionKeyLength ? null : `must be 1-${LIMITS.partitionKeyLength} characters`,
  );
  str('dataschema', false);

  const extensions: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (CORE_FIELDS.has(key)) continue;
    if (RESERVED.has(key.toLowerCase())) {
      errors.push({ path: at(key), message: 'is set by the platform and must not be sent' });
    } else if (!LIMITS.extensionName.test(key)) {
      errors.push({ path: at(key), message: 'unknown field (extension attribute names are 1-20 lowercase letters or digits)' });
    } else if (!['string', 'number', 'boolean'].includes(typeof value)) {
      errors.push({ path: at(key), message: 'extension attributes must be a string, number or boolean' });
    } else {
      extensions[key] = value as string | number | boolean;
    }
  }

  // Text Postgres cannot store would fail the event's whole batch forever in the processor.
  for (const [field, value] of Object.entries(raw)) {
    const bad = unstorableText(value, at(field));
    if (bad) errors.push({ path: bad.at, message: bad.message });
  }

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    event: {
      specversion: (specversion ?? '1.0') as '1.0',
      id,
      type: type as string,
      source: source ?? DEFAULT_SOURCE,
      subject,
      time: time ? new Date(time).toISOString() : null,
      datacontenttype: datacontenttype ?? (raw.data === undefined ? null : 'application/json'),
      data: raw.data === undefined ? null : raw.data,
      partitionkey,
      extensions,
    },
  };
}
