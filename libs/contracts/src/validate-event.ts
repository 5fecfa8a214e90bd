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

/** JavaScript rolls 2026-02-30 over into March; Postgres refuses it. The day must exist in its month. */
function dayExists(v: string): boolean {
  const [y, m, d] = [Number(v.slice(0, 4)), Number(v.slice(5, 7)), Number(v.slice(8, 10))];
  const last = new Date(0);
  last.setUTCFullYear(y, m, 0); // day 0 of the next month: the month's last day
  return m >= 1 && m <= 12 && d >= 1 && d <= last.getUTCDate();
}

const length = (min: number, max: number) => (v: string) => (v.length >= min && v.length <= max ? null : `must be ${min}-${max} characters`);

/**
 * The rules of the envelope's attributes, one set for every way in: the gateway and `tributary
 * backfill` (validateEvent) and the processor's decode of what is on the topic (decodeEnvelope),
 * so an event another producer wrote straight to Kafka is held to the same limits. Each returns
 * what is wrong, or null. The lengths keep every value within Postgres's btree index row limit.
 */
export const ATTRIBUTE_RULES = {
  id: length(1, LIMITS.idLength),
  type: (v: string) => (LIMITS.typePattern.test(v) ? null : 'must match ^[A-Za-z0-9._:-]{1,128}$'),
  source: length(1, LIMITS.sourceLength),
  subject: length(1, LIMITS.subjectLength),
  partitionkey: length(1, LIMITS.partitionKeyLength),
  datacontenttype: length(1, 256),
  dataschema: length(1, LIMITS.sourceLength),
  /** An instant Postgres can store: timestamptz has no year 0, and four-digit years only here. */
  time: (v: string) => {
    const ms = RFC3339.test(v) && dayExists(v) ? Date.parse(v) : NaN;
    if (Number.isNaN(ms)) return 'must be an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z';
    const year = new Date(ms).getUTCFullYear();
    return year >= 1 && year <= 9999 ? null : 'must be between years 0001 and 9999 (UTC)';
  },
};

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
  const id = str('id', opts.cloudEvents, ATTRIBUTE_RULES.id);
  const type = str('type', true, ATTRIBUTE_RULES.type);
  const source = str('source', opts.cloudEvents, ATTRIBUTE_RULES.source);
  const subject = str('subject', false, ATTRIBUTE_RULES.subject);
  const time = str('time', false, ATTRIBUTE_RULES.time);
  const datacontenttype = str('datacontenttype', false, ATTRIBUTE_RULES.datacontenttype);
  const partitionkey = str('partitionkey', false, ATTRIBUTE_RULES.partitionkey);
  str('dataschema', false, ATTRIBUTE_RULES.dataschema);

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
