import { ErrorCode, TributaryError } from './errors';

export const INGEST_LIMITS = {
  bodyBytes: 1024 * 1024,
  eventBytes: 64 * 1024,
  eventsPerBatch: 1000,
};

/** The answer to a request body over INGEST_LIMITS.bodyBytes (413). */
export const bodyTooLarge = () => new TributaryError(ErrorCode.PayloadTooLarge, `request body is over the ${INGEST_LIMITS.bodyBytes} byte limit`);

/** Events found in one ingest request, each with the JSON pointer it came from. */
export interface DecodedIngest {
  batch: boolean;
  cloudEvents: boolean;
  items: { path: string; raw: unknown; bytes: number }[];
}

type Headers = Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new TributaryError(ErrorCode.MalformedJson, `request body is not valid JSON: ${(e as Error).message}`);
  }
}

function byteLength(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
}

function batchOf(list: unknown[], base: string, cloudEvents: boolean): DecodedIngest {
  if (list.length === 0) {
    throw new TributaryError(ErrorCode.ValidationFailed, 'the batch holds no event', [{ path: base || '/', message: 'must hold at least one event' }]);
  }
  if (list.length > INGEST_LIMITS.eventsPerBatch) {
    throw new TributaryError(ErrorCode.PayloadTooLarge, `a batch holds at most ${INGEST_LIMITS.eventsPerBatch} events; this one has ${list.length}`);
  }
  return {
    batch: true,
    cloudEvents,
    items: list.map((raw, i) => ({ path: `${base}/${i}`, raw, bytes: byteLength(raw) })),
  };
}

/**
 * Turns an ingest request (content type, headers, raw body) into the events it carries.
 * Plain JSON: one event, an array, or {"events": [...]}. CloudEvents: structured, batch, binary.
 */
export function decodeIngest(headers: Headers, body: Buffer): DecodedIngest {
  const contentType = (header(headers, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  const binarySpec = header(headers, 'ce-specversion');

  if (binarySpec !== undefined) return decodeBinary(headers, contentType, body);

  switch (contentType) {
    case 'application/json': {
      const v = parseJson(body);
      if (Array.isArray(v)) return batchOf(v, '', false);
      if (v && typeof v === 'object' && 'events' in v && Object.keys(v).length === 1) {
        const events = (v as { events: unknown }).events;
        if (!Array.isArray(events)) {
          throw new TributaryError(ErrorCode.ValidationFailed, 'events must be an array', [{ path: '/events', message: 'must be an array' }]);
        }
        return batchOf(events, '/events', false);
      }
      return { batch: false, cloudEvents: false, items: [{ path: '', raw: v, bytes: body.length }] };
    }
    case 'application/cloudevents+json':
      return { batch: false, cloudEvents: true, items: [{ path: '', raw: parseJson(body), bytes: body.length }] };
    case 'application/cloudevents-batch+json': {
      const v = parseJson(body);
      if (!Array.isArray(v)) {
        throw new TributaryError(ErrorCode.ValidationFailed, 'a CloudEvents batch must be a JSON array', [{ path: '/', message: 'must be an array' }]);
      }
      return batchOf(v, '', true);
    }
    default:
      throw new TributaryError(
        ErrorCode.UnsupportedMediaType,
        `content type '${contentType || '(none)'}' is not accepted; use application/json, application/cloudevents+json, ` +
          'application/cloudevents-batch+json, or CloudEvents binary mode (ce-* headers)',
      );
  }
}

const BINARY_ATTRS = ['specversion', 'id', 'type', 'source', 'subject', 'time', 'dataschema', 'partitionkey'];

function decodeBinary(headers: Headers, contentType: string, body: Buffer): DecodedIngest {
  const event: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || value === undefined) continue;
    const attr = name.slice(3);
    event[attr] = Array.isArray(value) ? value[0] : value;
  }
  for (const attr of BINARY_ATTRS) if (event[attr] === '') delete event[attr];
  if (body.length > 0) {
    if (contentType === 'application/json' || contentType.endsWith('+json')) {
      event.data = parseJson(body);
    } else if (contentType.startsWith('text/') || contentType === '') {
      event.data = body.toString('utf8');
    } else {
      throw new TributaryError(
        ErrorCode.UnsupportedMediaType,
        `binary-mode data of type '${contentType}' is not accepted; send JSON or text`,
      );
    }
    event.datacontenttype = contentType || 'text/plain';
  }
  return { batch: false, cloudEvents: true, items: [{ path: '', raw: event, bytes: body.length }] };
}
