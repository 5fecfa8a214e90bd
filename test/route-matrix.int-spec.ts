import 'reflect-metadata';
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as path from 'path';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { GatewayModule } from '../apps/gateway/src/gateway.module';
import { DirectProducer } from './harness/direct-producer';
import { freePort, HttpAnswer, Platform, ROOT, waitFor } from './harness/platform';

/**
 * Who may call what: every route the gateway serves against every kind of credential, as one
 * table. The route list is the served /openapi.json (so a route added to the contract without a
 * row here fails), checked against the routes the gateway's controllers declare (so a route
 * served but missing from the contract fails too).
 */

const CREDENTIALS = ['ingest', 'read', 'admin', 'operator', 'none', 'malformed', 'revoked', 'wrongToken'] as const;
type Credential = (typeof CREDENTIALS)[number];

// Columns: a tenant key with exactly that one role (ingest, read, admin), the operator token
// (TRIBUTARY_ADMIN_TOKEN), no credential, a string that is not a key (`trb_` and too short), a
// revoked key that had every role, and a token of the operator token's shape that is not it.
//                                                ingest read admin operator none malformed revoked wrongToken
const row = (...s: number[]): Record<Credential, number> => Object.fromEntries(CREDENTIALS.map((c, i) => [c, s[i]])) as Record<Credential, number>;
const MATRIX: Record<string, Record<Credential, number>> = {
  'POST /v1/admin/tenants':                  row(401, 401, 401, 201, 401, 401, 401, 401),
  'POST /v1/admin/tenants/{tenant}/keys':    row(401, 401, 401, 201, 401, 401, 401, 401),
  'DELETE /v1/admin/tenants/{tenant}/keys/{id}': row(401, 401, 401, 204, 401, 401, 401, 401),
  'POST /v1/events':                         row(202, 403, 403, 401, 401, 401, 401, 401),
  'GET /v1/events':                          row(403, 200, 403, 401, 401, 401, 401, 401),
  'GET /v1/events/{id}':                     row(403, 200, 403, 401, 401, 401, 401, 401),
  'GET /v1/streams/{subject}':               row(403, 200, 403, 401, 401, 401, 401, 401),
  'GET /v1/stats/counts':                    row(403, 200, 403, 401, 401, 401, 401, 401),
  'GET /v1/projections':                     row(403, 200, 403, 401, 401, 401, 401, 401),
  'GET /v1/dead-letters':                    row(403, 200, 403, 401, 401, 401, 401, 401),
  'POST /v1/dead-letters/{id}/retry':        row(403, 403, 202, 401, 401, 401, 401, 401),
  'POST /v1/dead-letters/{id}/discard':      row(403, 403, 202, 401, 401, 401, 401, 401),
  'PUT /v1/schemas/{type}':                  row(403, 403, 200, 401, 401, 401, 401, 401),
  'GET /health/live':                        row(200, 200, 200, 200, 200, 200, 200, 200),
  'GET /health/ready':                       row(200, 200, 200, 200, 200, 200, 200, 200),
};

/** Served by the gateway but not part of the contract: the contract itself and its rendering. */
const DOCUMENTATION = ['GET /docs', 'GET /openapi.json', 'GET /openapi.yaml'];

/** `METHOD /path/{param}` of every handler the gateway module's controllers declare. */
function declaredRoutes(): string[] {
  const routes: string[] = [];
  const controllers: Function[] = Reflect.getMetadata('controllers', GatewayModule);
  const join = (...parts: string[]) => `/${parts.flatMap((s) => s.split('/')).filter(Boolean).join('/')}`;
  for (const c of controllers) {
    const base: string = Reflect.getMetadata(PATH_METADATA, c) ?? '';
    const seen = new Set<string>();
    for (let proto = c.prototype; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (seen.has(name) || name === 'constructor') continue;
        seen.add(name);
        const handler = Object.getOwnPropertyDescriptor(proto, name)?.value;
        if (typeof handler !== 'function' || Reflect.getMetadata(METHOD_METADATA, handler) === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as number];
        const sub: string = Reflect.getMetadata(PATH_METADATA, handler) ?? '';
        routes.push(`${method} ${join(base, sub).replace(/:([A-Za-z]+)/g, '{$1}')}`);
      }
    }
  }
  return routes;
}

describe('role × route matrix', () => {
  const p = new Platform('matrix', 1, {
    TRIBUTARY_READ_RATE: '100000',
    TRIBUTARY_READ_BURST: '100000',
    TRIBUTARY_ADMIN_RATE: '100000',
    TRIBUTARY_ADMIN_BURST: '100000',
  });
  const direct = new DirectProducer(p);
  const keys = {} as Record<Credential, string | undefined>;
  /** Every key minted in this file, to look for in Postgres. */
  const minted: string[] = [];
  const deadLetters: Record<string, string> = {};
  let served: string[] = [];

  const mint = async (tenant: string, roles: string[]) => {
    const r = await p.request('POST', `/v1/admin/tenants/${tenant}/keys`, { key: p.adminToken, body: { roles } });
    expect(r.status).toBe(201);
    minted.push(r.body.key);
    return r.body as { id: string; key: string };
  };

  beforeAll(async () => {
    await direct.connect();
    await p.start({ processors: 1 });
    expect((await p.request('POST', '/v1/admin/tenants', { key: p.adminToken, body: { id: 'acme' } })).status).toBe(201);
    keys.ingest = (await mint('acme', ['ingest'])).key;
    keys.read = (await mint('acme', ['read'])).key;
    keys.admin = (await mint('acme', ['admin'])).key;
    keys.operator = p.adminToken;
    keys.none = undefined;
    keys.malformed = 'trb_not-a-key';
    const revoked = await mint('acme', ['ingest', 'read', 'admin']);
    expect((await p.request('DELETE', `/v1/admin/tenants/acme/keys/${revoked.id}`, { key: p.adminToken })).status).toBe(204);
    keys.revoked = revoked.key;
    keys.wrongToken = `admin-${'0'.repeat(24)}`;

    // What the 2xx answers need: a processed event in a stream, and two open dead letters
    // (purchases without an amount, written past the gateway, refused by the processor's rule).
    expect((await p.request('POST', '/v1/events', { key: keys.ingest, body: { id: 'm-1', type: 'order.created', subject: 'order-1' } })).status).toBe(202);
    await direct.send('acme', [{ id: 'dl-retry', type: 'purchase', data: { amount: 0 } }, { id: 'dl-discard', type: 'purchase', data: { amount: 0 } }]);
    await waitFor('m-1 processed and two dead letters', async () => {
      const r = await p.db.query(`SELECT id::text, event_id FROM dead_letters WHERE tenant_id = 'acme' AND status = 'open'`);
      for (const d of r.rows) deadLetters[d.event_id] = d.id;
      return r.rows.length === 2 && (await p.request('GET', '/v1/events/m-1', { key: keys.read })).status === 200;
    }, 30000, 200);

    const spec = await p.request('GET', '/openapi.json');
    expect(spec.status).toBe(200);
    served = Object.entries(spec.body.paths as Record<string, Record<string, unknown>>).flatMap(([route, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${route}`));
  });
  afterAll(async () => {
    await direct.disconnect();
    await p.stop();
  });

  it('has a row for every route of the served contract, and the contract has every route the gateway declares', () => {
    expect([...served].sort()).toEqual(Object.keys(MATRIX).sort());
    // POST /v1/events is served outside Fastify (ingest.http.ts), the rest by the controllers.
    expect([...declaredRoutes(), 'POST /v1/events'].sort()).toEqual(Object.keys(MATRIX).sort());
  });

  it('answers every credential on every route as the table says (refusals as problem+json), and a refused admin call changes nothing', async () => {
    let n = 0;
    const createdTenants: string[] = [];
    const keyAttempts: { credential: Credential; id: string }[] = [];
    const requests: Record<string, (c: Credential) => Promise<{ method: string; path: string; body?: unknown }>> = {
      'POST /v1/admin/tenants': async (c) => {
        const id = `made-by-${c.toLowerCase()}-${n++}`;
        createdTenants.push(id);
        return { method: 'POST', path: '/v1/admin/tenants', body: { id } };
      },
      'POST /v1/admin/tenants/{tenant}/keys': async () => ({ method: 'POST', path: '/v1/admin/tenants/acme/keys', body: { roles: ['read'] } }),
      'DELETE /v1/admin/tenants/{tenant}/keys/{id}': async (c) => {
        const k = await mint('acme', ['read']);
        keyAttempts.push({ credential: c, id: k.id });
        return { method: 'DELETE', path: `/v1/admin/tenants/acme/keys/${k.id}` };
      },
      'POST /v1/events': async () => ({ method: 'POST', path: '/v1/events', body: { type: 'matrix.event', subject: 'order-1' } }),
      'GET /v1/events': async () => ({ method: 'GET', path: '/v1/events?type=order.created' }),
      'GET /v1/events/{id}': async () => ({ method: 'GET', path: '/v1/events/m-1' }),
      'GET /v1/streams/{subject}': async () => ({ method: 'GET', path: '/v1/streams/order-1' }),
      'GET /v1/stats/counts': async () => ({ method: 'GET', path: '/v1/stats/counts?bucket=hour' }),
      'GET /v1/projections': async () => ({ method: 'GET', path: '/v1/projections' }),
      'GET /v1/dead-letters': async () => ({ method: 'GET', path: '/v1/dead-letters' }),
      'POST /v1/dead-letters/{id}/retry': async () => ({ method: 'POST', path: `/v1/dead-letters/${deadLetters['dl-retry']}/retry` }),
      'POST /v1/dead-letters/{id}/discard': async () => ({ method: 'POST', path: `/v1/dead-letters/${deadLetters['dl-discard']}/discard` }),
      'PUT /v1/schemas/{type}': async () => ({ method: 'PUT', path: '/v1/schemas/matrix.typed', body: { type: 'object' } }),
      'GET /health/live': async () => ({ method: 'GET', path: '/health/live' }),
      'GET /health/ready': async () => ({ method: 'GET', path: '/health/ready' }),
    };
    expect(Object.keys(requests).sort()).toEqual(Object.keys(MATRIX).sort());

    // The admin role's discard runs last, so every other credential meets an open dead letter.
    const order = (c: Credential) => (c === 'admin' ? 1 : 0);
    const got: Record<string, Record<string, number>> = {};
    const badRefusals: string[] = [];
    for (const route of Object.keys(MATRIX)) {
      got[route] = {};
      for (const c of [...CREDENTIALS].sort((a, b) => order(a) - order(b))) {
        const req = await requests[route](c);
        const r: HttpAnswer = await p.request(req.method, req.path, { key: keys[c], body: req.body });
        got[route][c] = r.status;
        if (r.status === 201 && route.endsWith('/keys')) minted.push(r.body.key);
        if (r.status === 401 || r.status === 403) {
          const problem = String(r.headers.get('content-type')).startsWith('application/problem+json') && r.body?.code === (r.status === 401 ? 'unauthorized' : 'forbidden');
          if (!problem) badRefusals.push(`${route} ${c}: ${r.headers.get('content-type')} ${JSON.stringify(r.body)}`);
        }
      }
    }
    // One comparison, so a failure shows the whole table with every cell that differs.
    expect(got).toEqual(MATRIX);
    expect(badRefusals).toEqual([]);

    // Refused operator calls had no effect: only the operator's tenant exists, only its
    // revocation took effect, only its key was made.
    const tenants = (await p.db.query(`SELECT id FROM tenants WHERE id = ANY($1) ORDER BY id`, [createdTenants])).rows.map((t) => t.id);
    expect(tenants).toEqual(createdTenants.filter((t) => t.startsWith('made-by-operator-')));
    const revokedNow = (await p.db.query(`SELECT id::text FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NOT NULL`, [keyAttempts.map((k) => k.id)])).rows.map((k) => k.id);
    expect(revokedNow).toEqual(keyAttempts.filter((k) => k.credential === 'operator').map((k) => k.id));
    // And refused tenant calls too: one schema version (the admin key's), one discard (the admin key's).
    expect((await p.db.query(`SELECT version FROM event_schemas WHERE tenant_id = 'acme' AND type = 'matrix.typed'`)).rows).toEqual([{ version: 1 }]);
    expect((await p.db.query(`SELECT status FROM dead_letters WHERE id = $1`, [deadLetters['dl-discard']])).rows).toEqual([{ status: 'discarded' }]);
  });

  it('refuses the operator API to a missing or wrong operator token in every way it can be presented', async () => {
    const tries: [string, Record<string, string>][] = [
      ['none', {}],
      ['empty bearer', { authorization: 'Bearer ' }],
      ['wrong bearer', { authorization: `Bearer ${p.adminToken.slice(0, -1)}x` }],
      ['the token as a prefix', { authorization: `Bearer ${p.adminToken}x` }],
      ['a tenant key with every role', { authorization: `Bearer ${(await mint('acme', ['ingest', 'read', 'admin'])).key}` }],
      ['wrong X-API-Key', { 'x-api-key': 'x'.repeat(p.adminToken.length) }],
      ['basic auth', { authorization: `Basic ${Buffer.from(`admin:${p.adminToken}`).toString('base64')}` }],
    ];
    for (const [what, headers] of tries) {
      const r = await p.request('POST', '/v1/admin/tenants', { headers, body: { id: 'never-made' } });
      expect({ what, status: r.status, code: r.body?.code }).toEqual({ what, status: 401, code: 'unauthorized' });
    }
    expect((await p.db.query(`SELECT 1 FROM tenants WHERE id = 'never-made'`)).rowCount).toBe(0);
    // The control: the same request with the token is made.
    expect((await p.request('POST', '/v1/admin/tenants', { headers: { 'x-api-key': p.adminToken }, body: { id: 'made-once' } })).status).toBe(201);
  });

  it('stores API keys hashed: no key minted here appears in any row of any table, and each row holds the SHA-256 of its key', async () => {
    expect(minted.length).toBeGreaterThan(10);
    const tables = (await p.db.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [p.schema])).rows.map((t) => t.tablename);
    expect(tables).toContain('api_keys');
    const leaks: string[] = [];
    for (const table of tables) {
      const rows = (await p.db.query(`SELECT t::text AS row FROM "${table}" t`)).rows.map((r) => r.row as string);
      for (const key of minted) {
        const secret = key.slice('trb_'.length);
        // As text, as the bytea hex Postgres prints, as base64.
        const forms = [secret, Buffer.from(key).toString('hex'), Buffer.from(key).toString('base64')];
        for (const r of rows) if (forms.some((f) => r.includes(f))) leaks.push(`${table}: ${key}`);
      }
    }
    expect(leaks).toEqual([]);
    const stored = await p.db.query(`SELECT encode(key_hash, 'hex') AS h FROM api_keys`);
    const hashes = new Set(stored.rows.map((r) => r.h));
    for (const key of minted) expect(hashes.has(createHash('sha256').update(key).digest('hex'))).toBe(true);
  });
});

describe('the gateway refuses to start without a proper operator token', () => {
  /** Starts a gateway with `env` over the test's environment; resolves with its exit code and stderr. */
  async function startWith(env: Record<string, string | undefined>): Promise<{ code: number | null; stderr: string; listened: boolean }> {
    const port = await freePort();
    const full: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), OPS_PORT: String(await freePort()), HOST: '127.0.0.1', ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/gateway/src/main.js')], { env: full, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(timer);
    const listened = await fetch(`http://127.0.0.1:${port}/health/live`).then(() => true, () => false);
    return { code, stderr, listened };
  }

  it('exits 1 naming TRIBUTARY_ADMIN_TOKEN when it is unset or empty', async () => {
    for (const token of [undefined, '']) {
      const r = await startWith({ TRIBUTARY_ADMIN_TOKEN: token });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('TRIBUTARY_ADMIN_TOKEN is required');
      expect(r.listened).toBe(false);
    }
  });

  it('exits 1 when it is shorter than 16 characters, without printing it', async () => {
    const short = 'fifteen-chars-x';
    expect(short).toHaveLength(15);
    const r = await startWith({ TRIBUTARY_ADMIN_TOKEN: short });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TRIBUTARY_ADMIN_TOKEN must be at least 16 characters');
    expect(r.stderr).not.toContain(short);
    expect(r.listened).toBe(false);
  });
});
