import { DirectProducer } from './harness/direct-producer';
import { HttpAnswer, Platform, waitFor } from './harness/platform';

/**
 * Tenant A (alpha) against tenant B (bravo) on every route, with A's keys: whatever A asks about
 * B's events, streams, counts, dead letters, schemas and projections, it gets 404 or an empty
 * answer, never B's data, and no answer names anything of B's that A did not send itself. Where
 * both tenants use the same name (an event id, a subject, a type), A sees only its own.
 */

const B = 'bravo-zq';
const B_TYPE = 'b.secret.type';
const B_SUBJECT = 'b-subject-1';
const B_PAYLOAD = 'b-payload-secret';
const B_EVENTS = ['b-evt-1', 'b-evt-2', 'b-evt-3'];
const B_DEAD = ['b-dl-1', 'b-dl-2'];
const B_DL_SUBJECT = 'b-dl-subject';
const B_SCHEMA_TYPE = 'b.typed';
/** What of B's must never appear in an answer to A (unless A sent it in that request). */
const B_MARKERS = [B, B_TYPE, B_SUBJECT, B_PAYLOAD, ...B_EVENTS, ...B_DEAD, B_DL_SUBJECT, B_SCHEMA_TYPE];

/** Names both tenants use, each for its own events. */
const SHARED_ID = 'shared-id';
const SHARED_SUBJECT = 'shared-subject';
const SHARED_TYPE = 'shared.type';

/** B's markers in the answer, after removing what A itself sent in the request (an id it asked about is echoed). */
function leaked(r: HttpAnswer, sent: string[] = []): string[] {
  let text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
  for (const s of sent) text = text.split(s).join('<sent>');
  return B_MARKERS.filter((m) => text.includes(m));
}

describe('cross-tenant: A against B on every route', () => {
  const p = new Platform('xtenant', 2, {
    TRIBUTARY_READ_RATE: '100000',
    TRIBUTARY_READ_BURST: '100000',
    TRIBUTARY_ADMIN_RATE: '100000',
    TRIBUTARY_ADMIN_BURST: '100000',
  });
  const direct = new DirectProducer(p);
  let a: string;
  let b: string;
  let bKeyId: string;
  const bDeadLetterIds: string[] = [];
  let aDeadLetterId: string;
  let bTimes: { first: string; last: string };
  let bLastCursor: string;

  const asA = (method: string, path: string, body?: unknown) => p.request(method, path, { key: a, body });
  const processed = (key: string, id: string) => waitFor(`${id} processed`, async () => (await p.request('GET', `/v1/events/${id}`, { key })).body?.status === 'processed', 30000, 100);

  beforeAll(async () => {
    await direct.connect();
    await p.start({ processors: 1 });
    a = await p.tenant('alpha', ['ingest', 'read', 'admin']);
    b = await p.tenant(B, ['ingest', 'read', 'admin']);
    const bKey = await p.request('POST', `/v1/admin/tenants/${B}/keys`, { key: p.adminToken, body: { roles: ['read'] } });
    bKeyId = bKey.body.id;

    // B: a schema, events of its own names and of the shared ones, a duplicate, two dead letters.
    expect((await p.request('PUT', `/v1/schemas/${B_SCHEMA_TYPE}`, { key: b, body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } } })).status).toBe(200);
    const bEvents = [
      ...B_EVENTS.map((id, i) => ({ id, type: B_TYPE, subject: B_SUBJECT, time: `2026-03-0${i + 1}T10:00:00Z`, data: { secret: B_PAYLOAD } })),
      { id: SHARED_ID, type: SHARED_TYPE, subject: SHARED_SUBJECT, time: '2026-03-02T12:00:00Z', data: { owner: B_PAYLOAD } },
      { id: 'b-shared-2', type: SHARED_TYPE, subject: SHARED_SUBJECT, time: '2026-03-02T12:30:00Z', data: { owner: B_PAYLOAD } },
    ];
    expect((await p.request('POST', '/v1/events', { key: b, body: bEvents })).status).toBe(202);
    expect((await p.request('POST', '/v1/events', { key: b, body: { id: B_EVENTS[0], type: B_TYPE, subject: B_SUBJECT } })).status).toBe(202);
    // Each its own dead letter: the second has no subject, so it is not parked behind the first.
    await direct.send(B, B_DEAD.map((id, i) => ({ id, type: 'purchase', subject: i === 0 ? B_DL_SUBJECT : null, data: { amount: 0, secret: B_PAYLOAD } })));

    // A: events with its own names and the shared ones, one dead letter of its own.
    const aEvents = [
      { id: 'alpha-1', type: 'alpha.type', subject: SHARED_SUBJECT, time: '2026-03-01T09:00:00Z', data: { owner: 'alpha' } },
      { id: 'alpha-2', type: SHARED_TYPE, subject: SHARED_SUBJECT, time: '2026-03-02T11:00:00Z', data: { owner: 'alpha' } },
      { id: SHARED_ID, type: SHARED_TYPE, subject: SHARED_SUBJECT, time: '2026-03-03T12:00:00Z', data: { owner: 'alpha' } },
      { id: 'alpha-3', type: SHARED_TYPE, subject: 'alpha-subject', time: '2026-03-04T09:00:00Z', data: { owner: 'alpha' } },
    ];
    expect((await p.request('POST', '/v1/events', { key: a, body: aEvents })).status).toBe(202);
    await direct.send('alpha', [{ id: 'alpha-dl', type: 'purchase', subject: 'alpha-dl-subject', data: { owner: 'alpha', amount: 0 } }]);

    for (const id of [...B_EVENTS, SHARED_ID, 'b-shared-2']) await processed(b, id);
    for (const id of ['alpha-1', 'alpha-2', SHARED_ID, 'alpha-3']) await processed(a, id);
    const dls = await waitFor('three dead letters', async () => {
      const r = await p.db.query(`SELECT id::text, tenant_id, event_id FROM dead_letters ORDER BY id`);
      return r.rows.length === 3 ? r.rows : undefined;
    }, 30000, 100);
    for (const d of dls) if (d.tenant_id === B) bDeadLetterIds.push(d.id); else aDeadLetterId = d.id;
    expect(bDeadLetterIds).toHaveLength(2);
    // B really has a duplicate counted (A's count must not show it).
    await waitFor('B duplicate counted', async () => (await p.request('GET', '/v1/stats/counts', { key: b })).body?.duplicates === 1, 30000, 100);

    const bList = await p.request('GET', `/v1/events?type=${B_TYPE}&limit=3`, { key: b });
    expect(bList.body.items.map((e: { id: string }) => e.id)).toEqual(B_EVENTS);
    bTimes = { first: bList.body.items[0].time, last: bList.body.items[2].time };
    // B's own cursor after its third event; in A's hands it is only a position in time.
    bLastCursor = bList.body.nextCursor;
    expect(bLastCursor).toEqual(expect.any(String));
  });
  afterAll(async () => {
    await direct.disconnect();
    await p.stop();
  });

  it('event by id: B\'s ids answer 404 exactly as an id nobody has, and a shared id is A\'s own event', async () => {
    const unknown = await asA('GET', '/v1/events/never-was');
    expect(unknown.status).toBe(404);
    for (const id of [...B_EVENTS, ...B_DEAD, 'b-shared-2']) {
      const r = await asA('GET', `/v1/events/${id}`);
      expect(r.status).toBe(404);
      expect(JSON.stringify(r.body).split(id).join('<id>')).toBe(JSON.stringify(unknown.body).split('never-was').join('<id>'));
      expect(leaked(r, [id])).toEqual([]);
    }
    const shared = await asA('GET', `/v1/events/${SHARED_ID}`);
    expect(shared.status).toBe(200);
    expect(shared.body).toMatchObject({ id: SHARED_ID, data: { owner: 'alpha' } });
  });

  it('event list with every filter: only A\'s events, never one of B\'s', async () => {
    // alpha-dl is A's dead-lettered purchase: listed too, with its status.
    const aIds = ['alpha-1', 'alpha-2', 'alpha-3', SHARED_ID, 'alpha-dl'];
    const queries = [
      '',
      '?limit=1000',
      `?type=${B_TYPE}`,
      `?subject=${B_SUBJECT}`,
      `?type=${SHARED_TYPE}`,
      `?subject=${SHARED_SUBJECT}`,
      `?from=${bTimes.first}&to=${bTimes.last}`,
      `?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=1000`,
      `?cursor=${bLastCursor}`,
      `?type=${B_TYPE}&subject=${B_SUBJECT}&from=${bTimes.first}&to=2100-01-01T00:00:00Z&limit=1000`,
      `?type=${SHARED_TYPE}&subject=${SHARED_SUBJECT}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&limit=1&cursor=${bLastCursor}`,
    ];
    const seen = new Set<string>();
    for (const q of queries) {
      const r = await asA('GET', `/v1/events${q}`);
      expect({ q, status: r.status }).toEqual({ q, status: 200 });
      for (const e of r.body.items) {
        expect(aIds).toContain(e.id);
        expect(e.data.owner).toBe('alpha');
        seen.add(e.id);
      }
      expect({ q, leaked: leaked(r, [B_TYPE, B_SUBJECT]) }).toEqual({ q, leaked: [] });
    }
    // The filters did select: A's own events were all found, B's own names found nothing.
    expect([...seen].sort()).toEqual([...aIds].sort());
    expect((await asA('GET', `/v1/events?type=${B_TYPE}`)).body.items).toEqual([]);
    expect((await asA('GET', `/v1/events?subject=${B_SUBJECT}`)).body.items).toEqual([]);
    // B's cursor points after 2026-03-03T10:00Z: A gets its own later events (alpha-dl's time
    // is when it was sent), nothing of B's.
    expect((await asA('GET', `/v1/events?cursor=${bLastCursor}`)).body.items.map((e: { id: string }) => e.id)).toEqual([SHARED_ID, 'alpha-3', 'alpha-dl']);
  });

  it('streams: B\'s subject is an empty stream; a shared subject holds only A\'s events, numbered from 1', async () => {
    for (const subject of [B_SUBJECT, B_DL_SUBJECT]) {
      for (const q of ['', '?fromSequence=1&limit=1000']) {
        const r = await asA('GET', `/v1/streams/${subject}${q}`);
        expect(r.status).toBe(200);
        expect(r.body).toEqual({ subject, events: [] });
        expect(leaked(r, [subject])).toEqual([]);
      }
    }
    const shared = await asA('GET', `/v1/streams/${SHARED_SUBJECT}`);
    expect(shared.body.events.map((e: { id: string; sequence: number }) => [e.id, e.sequence])).toEqual([['alpha-1', 1], ['alpha-2', 2], [SHARED_ID, 3]]);
    expect(shared.body.events.every((e: { data: unknown }) => JSON.stringify(e.data) === '{"owner":"alpha"}')).toBe(true);
    expect(leaked(shared)).toEqual([]);
  });

  it('counts: only A\'s types and A\'s duplicates, with every filter', async () => {
    for (const q of ['', '?bucket=minute', '?bucket=hour', '?bucket=day', `?type=${B_TYPE}`, `?type=${SHARED_TYPE}&bucket=day`, '?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z']) {
      const r = await asA('GET', `/v1/stats/counts${q}`);
      expect({ q, status: r.status }).toEqual({ q, status: 200 });
      expect(r.body.duplicates).toBe(0);
      for (const s of r.body.series) expect(['alpha.type', SHARED_TYPE]).toContain(s.type);
      expect({ q, leaked: leaked(r, [B_TYPE]) }).toEqual({ q, leaked: [] });
    }
    expect((await asA('GET', `/v1/stats/counts?type=${B_TYPE}`)).body.series).toEqual([]);
    // The shared type counts A's events only (B has two of that type as well).
    const shared = await asA('GET', `/v1/stats/counts?type=${SHARED_TYPE}&bucket=day&from=2000-01-01T00:00:00Z`);
    expect(shared.body.series.reduce((n: number, s: { count: number }) => n + s.count, 0)).toBe(3);
  });

  it('dead letters: the list shows only A\'s; retry and discard of B\'s ids answer 404 like a missing id and leave them as they were', async () => {
    for (const q of ['', '?status=open', '?status=resolved', '?status=discarded', '?type=purchase', '?since=2000-01-01T00:00:00Z', '?cursor=0&limit=1000', '?type=purchase&since=2000-01-01T00:00:00Z&status=open&limit=1000&cursor=0']) {
      const r = await asA('GET', `/v1/dead-letters${q}`);
      expect({ q, status: r.status }).toEqual({ q, status: 200 });
      for (const d of r.body.items) expect(d.id).toBe(aDeadLetterId);
      expect({ q, leaked: leaked(r) }).toEqual({ q, leaked: [] });
    }
    expect((await asA('GET', '/v1/dead-letters')).body.items.map((d: { eventId: string }) => d.eventId)).toEqual(['alpha-dl']);

    const before = (await p.db.query(`SELECT id::text, status, attempts, updated_at FROM dead_letters WHERE tenant_id = $1 ORDER BY id`, [B])).rows;
    const missing = '999999999';
    for (const action of ['retry', 'discard']) {
      const unknown = await asA('POST', `/v1/dead-letters/${missing}/${action}`);
      expect(unknown.status).toBe(404);
      for (const id of bDeadLetterIds) {
        const r = await asA('POST', `/v1/dead-letters/${id}/${action}`);
        expect(r.status).toBe(404);
        expect(JSON.stringify(r.body).split(id).join('<id>')).toBe(JSON.stringify(unknown.body).split(missing).join('<id>'));
        expect(leaked(r, [id])).toEqual([]);
      }
    }
    expect((await p.db.query(`SELECT id::text, status, attempts, updated_at FROM dead_letters WHERE tenant_id = $1 ORDER BY id`, [B])).rows).toEqual(before);
    // B still sees both open; its stream is still parked behind the first.
    expect((await p.request('GET', '/v1/dead-letters', { key: b })).body.items.map((d: { eventId: string }) => d.eventId)).toEqual(B_DEAD);
  });

  it('schemas: A writing a type B has makes A\'s own version 1 and leaves B\'s schema and B\'s checks as they were', async () => {
    const before = (await p.db.query(`SELECT version, schema FROM event_schemas WHERE tenant_id = $1 AND type = $2`, [B, B_SCHEMA_TYPE])).rows;
    expect(before).toHaveLength(1);
    const put = await asA('PUT', `/v1/schemas/${B_SCHEMA_TYPE}`, { type: 'object', required: ['s'], properties: { s: { type: 'string' } } });
    expect(put.status).toBe(200);
    // Version 1: nothing in the answer tells A that B had one.
    expect(put.body).toEqual({ type: B_SCHEMA_TYPE, version: 1 });
    expect((await p.db.query(`SELECT version, schema FROM event_schemas WHERE tenant_id = $1 AND type = $2`, [B, B_SCHEMA_TYPE])).rows).toEqual(before);

    // Each tenant's events are judged by its own schema only; A's 422 names nothing of B's schema.
    const aWrong = await asA('POST', '/v1/events', { type: B_SCHEMA_TYPE, data: { n: 1 } });
    expect(aWrong.status).toBe(422);
    expect(aWrong.body.errors).toEqual([{ path: '/data', message: "must have property 's'" }]);
    expect(leaked(aWrong, [B_SCHEMA_TYPE])).toEqual([]);
    expect((await asA('POST', '/v1/events', { type: B_SCHEMA_TYPE, data: { s: 'x' } })).status).toBe(202);
    expect((await p.request('POST', '/v1/events', { key: b, body: { type: B_SCHEMA_TYPE, data: { s: 'x' } } })).status).toBe(422);
    expect((await p.request('POST', '/v1/events', { key: b, body: { type: B_SCHEMA_TYPE, data: { n: 1 } } })).status).toBe(202);
  });

  it('ingest: an id B already used is a new event for A, not a duplicate of B\'s', async () => {
    const r = await asA('POST', '/v1/events', { id: B_EVENTS[1], type: 'alpha.type', data: { owner: 'alpha' } });
    expect(r.status).toBe(202);
    expect(leaked(r, [B_EVENTS[1]])).toEqual([]);
    await processed(a, B_EVENTS[1]);
    expect((await asA('GET', `/v1/events/${B_EVENTS[1]}`)).body).toMatchObject({ type: 'alpha.type', data: { owner: 'alpha' } });
    expect((await p.request('GET', `/v1/events/${B_EVENTS[1]}`, { key: b })).body).toMatchObject({ type: B_TYPE, data: { secret: B_PAYLOAD } });
    expect((await asA('GET', '/v1/stats/counts')).body.duplicates).toBe(0);
    expect((await p.request('GET', '/v1/stats/counts', { key: b })).body.duplicates).toBe(1);
  });

  it('ingest: an event claiming to be B\'s (a tenant attribute, in JSON or as a CloudEvents header) is refused, and B\'s store is unchanged', async () => {
    const before = (await p.request('GET', '/v1/events?limit=1000', { key: b })).body.items.length;
    const tries = [
      await asA('POST', '/v1/events', { id: 'claim-1', type: 'x', tenant: B }),
      await asA('POST', '/v1/events', { events: [{ id: 'claim-2', type: 'x', Tenant: B }] }),
      await p.request('POST', '/v1/events', { key: a, raw: '{}', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'claim-3', 'ce-type': 'x', 'ce-source': '/s', 'ce-tenant': B } }),
    ];
    for (const r of tries) {
      expect(r.status).toBe(422);
      expect(JSON.stringify(r.body)).toContain('is set by the platform');
    }
    expect((await asA('POST', '/v1/events', { id: 'claim-control', type: 'x' })).status).toBe(202);
    await processed(a, 'claim-control');
    for (const id of ['claim-1', 'claim-2', 'claim-3']) {
      expect((await p.request('GET', `/v1/events/${id}`, { key: b })).status).toBe(404);
      expect((await asA('GET', `/v1/events/${id}`)).status).toBe(404);
    }
    expect((await p.request('GET', '/v1/events?limit=1000', { key: b })).body.items.length).toBe(before);
  });

  it('projections: a rebuild scoped to B is not shown to A', async () => {
    const rebuilt = await p.cli('rebuild', 'counts', '--tenant', B, '--json');
    expect(rebuilt.code).toBe(0);
    const r = await asA('GET', '/v1/projections');
    expect(r.status).toBe(200);
    expect(r.body.items.length).toBeGreaterThan(0);
    expect(leaked(r)).toEqual([]);
    // The control: B sees its rebuild.
    expect(JSON.stringify((await p.request('GET', '/v1/projections', { key: b })).body)).toContain(B);
  });

  it('operator API: a key of B cannot be revoked under A\'s name', async () => {
    const r = await p.request('DELETE', `/v1/admin/tenants/alpha/keys/${bKeyId}`, { key: p.adminToken });
    expect(r.status).toBe(404);
    expect((await p.db.query(`SELECT revoked_at FROM api_keys WHERE id = $1`, [bKeyId])).rows).toEqual([{ revoked_at: null }]);
  });
});
