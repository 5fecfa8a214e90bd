import { Platform, waitFor } from './harness/platform';

// The HTTP contract of ../shared/API.md as a client sees it, against a real gateway and Kafka.
describe('ingest and query contract', () => {
  const p = new Platform('contract');
  let key: string;
  let otherKey: string;

  beforeAll(async () => {
    await p.start();
    key = await p.tenant('acme');
    otherKey = await p.tenant('globex');
  });
  afterAll(() => p.stop());

  const post = (body: unknown, k = key, headers: Record<string, string> = {}) => p.request('POST', '/v1/events', { key: k, body, headers });
  const processed = (id: string, k = key) =>
    waitFor(`event ${id} processed`, async () => {
      const r = await p.request('GET', `/v1/events/${encodeURIComponent(id)}`, { key: k });
      return r.status === 200 ? r.body : undefined;
    }, 15000);

  it('accepts one event with 202 and serves it once processed, with its stream position', async () => {
    const r = await post({ id: 'ord-1', type: 'order.created', subject: 'order-1', time: '2026-01-02T03:04:05Z', data: { amount: 5 } });
    expect(r).toMatchObject({ status: 202, body: { id: 'ord-1', status: 'accepted' } });
    const e = await processed('ord-1');
    expect(e).toMatchObject({ id: 'ord-1', type: 'order.created', subject: 'order-1', time: '2026-01-02T03:04:05.000Z', data: { amount: 5 }, status: 'processed', sequence: 1, specversion: '1.0' });
    expect(typeof e.partition).toBe('number');
    expect(typeof e.offset).toBe('number');
  });

  it('generates a UUIDv7 id when the client sends none', async () => {
    const r = await post({ type: 'ping' });
    expect(r.status).toBe(202);
    expect(r.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await processed(r.body.id);
  });

  it('answers 400 problem+json to malformed JSON', async () => {
    const r = await p.request('POST', '/v1/events', { key, raw: '{"type":', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body).toMatchObject({ status: 400, title: 'Bad Request' });
  });

  it('answers 422 naming the missing type by its path', async () => {
    const r = await post({ data: { x: 1 } });
    expect(r.status).toBe(422);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(r.body.errors).toEqual([{ path: '/type', message: 'is required' }]);
  });

  it('answers 401 without a key or with an unknown one, 403 without the role', async () => {
    expect((await p.request('POST', '/v1/events', { body: { type: 'a' } })).status).toBe(401);
    expect((await post({ type: 'a' }, 'trb_unknown')).status).toBe(401);
    const readOnly = await p.key('acme', ['read']);
    expect((await post({ type: 'a' }, readOnly)).status).toBe(403);
    // X-API-Key is accepted as well.
    expect((await p.request('POST', '/v1/events', { body: { type: 'a' }, headers: { 'x-api-key': key } })).status).toBe(202);
  });

  it('answers 413 over the body limit, the event limit and the batch limit', async () => {
    const huge = JSON.stringify({ type: 'a', data: 'x'.repeat(1024 * 1024) });
    const body = await p.request('POST', '/v1/events', { key, raw: huge, headers: { 'content-type': 'application/json' } });
    expect(body.status).toBe(413);
    expect(body.body).toMatchObject({ code: 'payload_too_large', detail: 'request body is over the 1048576 byte limit' });
    expect((await post({ type: 'a', data: 'x'.repeat(70 * 1024) })).status).toBe(413);
    expect((await post(Array.from({ length: 1001 }, () => ({ type: 'a' })))).status).toBe(413);
  });

  it('answers 415 to text/plain', async () => {
    const r = await p.request('POST', '/v1/events', { key, raw: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(415);
    expect(r.body.status).toBe(415);
  });

  it("answers 404 for another tenant's event id, exactly like a missing id", async () => {
    await post({ id: 'secret-1', type: 'order.created' });
    await processed('secret-1');
    const theirs = await p.request('GET', '/v1/events/secret-1', { key: otherKey });
    const missing = await p.request('GET', '/v1/events/never-sent', { key: otherKey });
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(theirs.body.title).toBe(missing.body.title);
  });

  it('accepts the valid part of a mixed batch and reports each rejected item with its path', async () => {
    const r = await post({ events: [{ id: 'b-1', type: 'a' }, { id: 'b-2' }, { id: 'b-3', type: 'a', time: 'later' }] });
    expect(r.status).toBe(202);
    expect(r.body.accepted).toBe(1);
    expect(r.body.rejected).toBe(2);
    expect(r.body.results[0]).toEqual({ index: 0, id: 'b-1', status: 'accepted' });
    expect(r.body.results[1]).toMatchObject({ index: 1, id: 'b-2', status: 'rejected', error: { errors: [{ path: '/events/1/type', message: 'is required' }] } });
    expect(r.body.results[2].error.errors[0].path).toBe('/events/2/time');
    const none = await post([{ data: 1 }]);
    expect(none.status).toBe(422);
    expect(none.body).toMatchObject({ accepted: 0, rejected: 1 });
  });

  it('accepts CloudEvents in structured, batch and binary modes', async () => {
    const ce = { specversion: '1.0', id: 'ce-1', type: 'ce.t', source: '/shop', subject: 'cart-9', data: { a: 1 }, traceid: 'abc' };
    expect((await p.request('POST', '/v1/events', { key, raw: JSON.stringify(ce), headers: { 'content-type': 'application/cloudevents+json' } })).status).toBe(202);
    const batch = [{ ...ce, id: 'ce-2' }, { ...ce, id: 'ce-3' }];
    const b = await p.request('POST', '/v1/events', { key, raw: JSON.stringify(batch), headers: { 'content-type': 'application/cloudevents-batch+json' } });
    expect(b.body).toMatchObject({ accepted: 2, rejected: 0 });
    const bin = await p.request('POST', '/v1/events', {
      key,
      raw: '{"b":2}',
      headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'ce-4', 'ce-type': 'ce.bin', 'ce-source': '/shop', 'ce-subject': 'cart-9' },
    });
    expect(bin.status).toBe(202);
    // Structured mode requires the CloudEvents attributes.
    const bad = await p.request('POST', '/v1/events', { key, raw: JSON.stringify({ type: 'x' }), headers: { 'content-type': 'application/cloudevents+json' } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/id', '/source', '/specversion']);

    expect(await processed('ce-1')).toMatchObject({ source: '/shop', subject: 'cart-9', data: { a: 1 }, traceid: 'abc' });
    expect(await processed('ce-4')).toMatchObject({ type: 'ce.bin', data: { b: 2 }, datacontenttype: 'application/json' });
    const stream = await waitFor('cart-9 stream complete', async () => {
      const r = await p.request('GET', '/v1/streams/cart-9', { key });
      return r.body.events.length === 4 ? r.body : undefined;
    });
    expect(stream.events.map((e: { id: string; sequence: number }) => [e.id, e.sequence])).toEqual([['ce-1', 1], ['ce-2', 2], ['ce-3', 3], ['ce-4', 4]]);
  });

  it('pages through events in (time, id) order with a cursor', async () => {
    const events = Array.from({ length: 5 }, (_, i) => ({ id: `page-${i}`, type: 'paged', time: `2025-05-05T00:00:0${i}Z` }));
    expect((await post(events)).status).toBe(202);
    await processed('page-4');
    const first = await p.request('GET', '/v1/events?type=paged&limit=3', { key });
    expect(first.body.items.map((e: { id: string }) => e.id)).toEqual(['page-0', 'page-1', 'page-2']);
    const second = await p.request('GET', `/v1/events?type=paged&limit=3&cursor=${first.body.nextCursor}`, { key });
    expect(second.body.items.map((e: { id: string }) => e.id)).toEqual(['page-3', 'page-4']);
    expect(second.body.nextCursor).toBeNull();
    const bad = await p.request('GET', '/v1/events?limit=5000&from=yesterday', { key });
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['/query/from', '/query/limit']);
  });

  it('stops accepting a revoked key within 5 s', async () => {
    const k = await p.request('POST', '/v1/admin/tenants/acme/keys', { key: p.adminToken, body: { roles: ['read'] } });
    expect((await p.request('GET', '/v1/events?limit=1', { key: k.body.key })).status).toBe(200);
    const del = await p.request('DELETE', `/v1/admin/tenants/acme/keys/${k.body.id}`, { key: p.adminToken });
    expect(del.status).toBe(204);
    const started = Date.now();
    await waitFor('revoked key refused', async () => (await p.request('GET', '/v1/events?limit=1', { key: k.body.key })).status === 401, 5000);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('guards the operator API and validates its input', async () => {
    expect((await p.request('POST', '/v1/admin/tenants', { key, body: { id: 'nope' } })).status).toBe(401);
    expect((await p.request('POST', '/v1/admin/tenants', { key: p.adminToken, body: { id: 'acme' } })).status).toBe(409);
    const bad = await p.request('POST', '/v1/admin/tenants', { key: p.adminToken, body: { id: 'Bad_Id' } });
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual([{ path: '/id', message: 'must match ^[a-z0-9][a-z0-9-]{1,62}$' }]);
    const roles = await p.request('POST', '/v1/admin/tenants/acme/keys', { key: p.adminToken, body: { roles: ['ingest', 'root'] } });
    expect(roles.body.errors).toEqual([{ path: '/roles/1', message: 'must be one of ingest, read, admin' }]);
  });

  it('serves its OpenAPI document and health', async () => {
    const doc = await p.request('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining(['/v1/events', '/v1/events/{id}', '/v1/streams/{subject}', '/v1/stats/counts', '/v1/admin/tenants', '/v1/dead-letters', '/v1/dead-letters/{id}/retry', '/v1/schemas/{type}']),
    );
    expect((await p.request('GET', '/docs')).status).toBe(200);
    expect((await p.request('GET', '/health/live')).status).toBe(200);
    expect(await p.request('GET', '/health/ready')).toMatchObject({ status: 200, body: { info: { kafka: { status: 'up' }, postgres: { status: 'up' } } } });
  });
});
