/**
 * The OpenAPI 3.1 description of the HTTP contract (../shared/API.md), served at /openapi.json
 * and rendered at /docs. Written by hand so it states the contract, not the framework's view of it.
 */
const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });
const json = (schema: object, description = 'OK') => ({ description, content: { 'application/json': { schema } } });
const auth = [{ apiKey: [] }, { bearer: [] }];
const operator = [{ bearer: [] }];
const errors = {
  '401': problemResponse('no or unknown key'),
  '403': problemResponse('the key lacks the role'),
  '429': problemResponse("over the tenant's rate for this kind of request (reads, or schema and dead-letter actions; per gateway instance); retry after Retry-After seconds"),
};
const q = (name: string, description: string, schema: object = { type: 'string' }) => ({ name, in: 'query', required: false, description, schema });

const event = {
  type: 'object',
  required: ['type'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128, description: 'Idempotency key, unique per tenant; UUIDv7 generated when absent' },
    type: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
    subject: { type: 'string', maxLength: 256, description: 'The stream (entity) the event belongs to' },
    time: { type: 'string', format: 'date-time', description: 'Event time; defaults to receive time' },
    data: { description: 'Any JSON value' },
    source: { type: 'string' },
    specversion: { type: 'string', const: '1.0' },
    datacontenttype: { type: 'string' },
    partitionkey: { type: 'string', description: 'Kafka key becomes tenant:partitionkey (order then holds per key)' },
  },
  additionalProperties: { type: ['string', 'number', 'boolean'], description: 'CloudEvents extension attributes ([a-z0-9]{1,20})' },
};

const storedEvent = {
  allOf: [
    event,
    {
      type: 'object',
      properties: {
        status: { enum: ['processed', 'dead_lettered', 'parked', 'discarded'] },
        partition: { type: 'integer' },
        offset: { type: 'integer' },
        sequence: { type: ['integer', 'null'], description: 'Position in its subject stream, from 1' },
        receivedAt: { type: 'string', format: 'date-time' },
      },
    },
  ],
};

const batchResult = {
  type: 'object',
  properties: {
    accepted: { type: 'integer' },
    rejected: { type: 'integer' },
    results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer' },
          id: { type: 'string' },
          status: { enum: ['accepted', 'rejected'] },
          error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, errors: { $ref: '#/components/schemas/Problem/properties/errors' } } },
        },
      },
    },
  },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'Tributary', version: '1', description: 'Multi-tenant event ingestion and query API. A 202 means the event is in Kafka (acks=all).' },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'A tenant API key, or the operator token on /v1/admin' },
      apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'detail'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          detail: { type: 'string' },
          code: { type: 'string' },
          errors: { type: 'array', items: { type: 'object', properties: { path: { type: 'string', description: 'JSON pointer of the field' }, message: { type: 'string' } } } },
        },
      },
      Event: event,
      StoredEvent: storedEvent,
    },
  },
  paths: {
    '/v1/admin/tenants': {
      post: {
        summary: 'Create a tenant',
        security: operator,
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{1,62}$' }, name: { type: 'string' } } } } } },
        responses: {
          '201': json({ type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: { type: 'string', format: 'date-time' } } }, 'Created'),
          '401': problemResponse('not the operator token'),
          '409': problemResponse('the tenant exists'),
          '422': problemResponse('invalid body'),
        },
      },
    },
    '/v1/admin/tenants/{tenant}/keys': {
      post: {
        summary: 'Create an API key (the key is shown this once)',
        security: operator,
        parameters: [{ name: 'tenant', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['roles'], properties: { roles: { type: 'array', items: { enum: ['ingest', 'read', 'admin'] } }, name: { type: 'string' } } } } } },
        responses: {
          '201': json({ type: 'object', properties: { id: { type: 'string' }, key: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } } } }, 'Created'),
          '401': problemResponse('not the operator token'),
          '404': problemResponse('no such tenant'),
          '422': problemResponse('invalid body'),
        },
      },
    },
    '/v1/admin/tenants/{tenant}/keys/{id}': {
      delete: {
        summary: 'Revoke an API key (stops working on every gateway within 5 s)',
        security: operator,
        parameters: [
          { name: 'tenant', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
        ],
        responses: { '204': { description: 'Revoked' }, '401': problemResponse('not the operator token'), '404': problemResponse('no such live key'), '422': problemResponse('bad parameter') },
      },
    },
    '/v1/events': {
      post: {
        summary: 'Ingest one event or a batch (plain JSON or CloudEvents structured, batch and binary modes)',
        security: auth,
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { oneOf: [event, { type: 'array', items: event, maxItems: 1000 }, { type: 'object', required: ['events'], properties: { events: { type: 'array', items: event, maxItems: 1000 } } }] } },
            'application/cloudevents+json': { schema: event },
            'application/cloudevents-batch+json': { schema: { type: 'array', items: event, maxItems: 1000 } },
          },
        },
        responses: {
          '202': json({ oneOf: [{ type: 'object', properties: { id: { type: 'string' }, status: { const: 'accepted' } } }, batchResult] }, 'In Kafka, acknowledged by all in-sync replicas'),
          '400': problemResponse('malformed JSON'),
          ...errors,
          '413': problemResponse('body over 1 MiB, event over 64 KiB, or more than 1000 events'),
          '415': problemResponse('unsupported content type'),
          '422': { description: 'invalid event (problem with errors[]), or a batch where none was accepted', content: { 'application/problem+json': { schema: problem }, 'application/json': { schema: batchResult } } },
          '429': problemResponse("over the tenant's rate (events/s, per gateway; every event of the request counts, accepted or rejected); retry after Retry-After seconds"),
          '503': problemResponse('Kafka cannot take the write (broker_unavailable) or Postgres is unavailable (database_unavailable); retry after Retry-After seconds'),
        },
      },
      get: {
        summary: 'List events in (time, id) order',
        security: auth,
        parameters: [q('type', 'event type'), q('subject', 'stream'), q('from', 'time >= from', { type: 'string', format: 'date-time' }), q('to', 'time < to', { type: 'string', format: 'date-time' }), q('limit', '1-1000, default 100', { type: 'integer' }), q('cursor', 'nextCursor of the previous page')],
        responses: { '200': json({ type: 'object', properties: { items: { type: 'array', items: storedEvent }, nextCursor: { type: ['string', 'null'] } } }), ...errors, '422': problemResponse('bad parameter') },
      },
    },
    '/v1/events/{id}': {
      get: {
        summary: 'One stored event',
        security: auth,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': json(storedEvent), ...errors, '404': problemResponse('not processed yet, or not this tenant\'s'), '422': problemResponse('bad parameter') },
      },
    },
    '/v1/streams/{subject}': {
      get: {
        summary: 'A subject\'s events in stream order (sequence 1, 2, 3 …)',
        security: auth,
        parameters: [{ name: 'subject', in: 'path', required: true, schema: { type: 'string' } }, q('fromSequence', 'first sequence, default 1', { type: 'integer' }), q('limit', '1-1000, default 1000', { type: 'integer' })],
        responses: { '200': json({ type: 'object', properties: { subject: { type: 'string' }, events: { type: 'array', items: storedEvent } } }), ...errors, '422': problemResponse('bad parameter') },
      },
    },
    '/v1/stats/counts': {
      get: {
        summary: 'Event counts per bucket and type (counts projection, by event time)',
        security: auth,
        parameters: [q('type', 'event type'), q('bucket', 'minute (default), hour or day', { enum: ['minute', 'hour', 'day'] }), q('from', 'bucket >= from', { type: 'string', format: 'date-time' }), q('to', 'bucket < to', { type: 'string', format: 'date-time' })],
        responses: {
          '200': json({ type: 'object', properties: { bucket: { type: 'string' }, series: { type: 'array', items: { type: 'object', properties: { time: { type: 'string' }, type: { type: 'string' }, count: { type: 'integer' } } } }, duplicates: { type: 'integer', description: 'duplicate ids received and not applied' } } }),
          ...errors,
          '422': problemResponse('bad parameter'),
        },
      },
    },
    '/v1/projections': {
      get: {
        summary: "Projection versions and rebuild progress, as the caller's tenant sees them (role read)",
        security: auth,
        responses: {
          '200': json({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: {
            name: { type: 'string' },
            liveVersion: { type: 'integer', description: 'the version reads answer from' },
            codeVersion: { type: 'integer', description: 'the version the deployed code declares' },
            status: { enum: ['live', 'rebuilding', 'stale'], description: 'stale: the code declares a newer version; run tributary rebuild' },
            lag: { type: 'integer', description: "the caller's processed events not yet folded into the table being rebuilt (0 when live)" },
            progress: { type: 'number', description: '0..1 of the running rebuild; 1 when live' },
            rebuild: { type: ['object', 'null'], properties: { targetVersion: { type: 'integer' }, source: { enum: ['store', 'kafka'] }, tenant: { type: ['string', 'null'] }, from: { type: ['string', 'null'] }, to: { type: ['string', 'null'] }, folded: { type: ['integer', 'null'], description: "null for a rebuild of every tenant (the figure would be other tenants' volume)" }, total: { type: ['integer', 'null'] }, startedAt: { type: ['string', 'null'] }, finishedAt: { type: ['string', 'null'] } } },
          } } } } }),
          ...errors,
        },
      },
    },
    '/v1/dead-letters': {
      get: {
        summary: 'Dead letters of the tenant (open by default), oldest first',
        security: auth,
        parameters: [q('type', 'event type'), q('since', 'created at or after', { type: 'string', format: 'date-time' }), q('status', 'open (default), resolved, discarded', { enum: ['open', 'resolved', 'discarded'] }), q('limit', '1-1000, default 100', { type: 'integer' }), q('cursor', 'nextCursor of the previous page')],
        responses: {
          '200': json({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, eventId: { type: ['string', 'null'] }, type: { type: ['string', 'null'] }, subject: { type: ['string', 'null'] }, stage: { type: 'string' }, error: { type: 'string' }, attempts: { type: 'integer' }, status: { type: 'string' }, createdAt: { type: 'string' }, updatedAt: { type: 'string' } } } }, nextCursor: { type: ['string', 'null'] } } }),
          ...errors,
          '422': problemResponse('bad parameter'),
        },
      },
    },
    '/v1/dead-letters/{id}/retry': {
      post: {
        summary: 'Re-run the checks; on success the event is applied and the events parked behind it are released in order',
        security: auth,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '202': json({ type: 'object', properties: { id: { type: 'string' }, outcome: { enum: ['resolved', 'still_failing'] }, released: { type: 'integer' }, attempts: { type: 'integer' }, error: { type: 'string' }, blockedAgainBy: { type: 'string' } } }, 'Done (see outcome)'),
          ...errors,
          '404': problemResponse('no open dead letter with that id for this tenant'),
          '409': problemResponse('the dead letter holds no decodable event (discard it)'),
          '422': problemResponse('bad parameter'),
        },
      },
    },
    '/v1/dead-letters/{id}/discard': {
      post: {
        summary: 'Give up on the event (archived as discarded) and release the events parked behind it',
        security: auth,
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '202': json({ type: 'object', properties: { id: { type: 'string' }, outcome: { const: 'discarded' }, released: { type: 'integer' } } }, 'Discarded'), ...errors, '404': problemResponse('no open dead letter with that id'), '422': problemResponse('bad parameter') },
      },
    },
    '/v1/schemas/{type}': {
      put: {
        summary: "Register (or replace) the tenant's JSON Schema (2020-12) for the data of an event type",
        security: auth,
        parameters: [{ name: 'type', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'a JSON Schema' } } } },
        responses: { '200': json({ type: 'object', properties: { type: { type: 'string' }, version: { type: 'integer' } } }), ...errors, '422': problemResponse('not a valid JSON Schema') },
      },
    },
    '/health/live': { get: { summary: 'Liveness', responses: { '200': { description: 'alive' } } } },
    '/health/ready': { get: { summary: 'Kafka and Postgres reachable', responses: { '200': { description: 'ready' }, '503': problemResponse('a dependency is down') } } },
  },
};
