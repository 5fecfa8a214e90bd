import * as net from 'net';
import { createHash, randomBytes } from 'crypto';
import type { PoolClient } from 'pg';
import { loadGatewayConfig, loadReplayConfig } from '../libs/config/src/config';
import { createPool } from '../libs/store/src/database';
import { Platform, waitFor } from './harness/platform';

/**
 * Issue 11, items 3-5 as a client (or an attacker) sees them, against a real gateway process and
 * real Postgres and Kafka: authentication before any work, bounded key caches, timeouts on
 * sockets and statements, rate limits on every kind of request, no other tenant's metadata.
 */

/** A well-formed key (the minted format) that no tenant has. */
const randomKey = () => `trb_${randomBytes(32).toString('base64url')}`;

/** An HTTP/1.1 request written by hand on a raw socket, so the body can be left unfinished. */
function rawRequest(baseUrl: string, head: string[], bodyPart = ''): { text: () => string; closed: Promise<void>; socket: net.Socket } {
  const u = new URL(baseUrl);
  const socket = net.connect(Number(u.port), u.hostname);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (text += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  // A head ending in two empty strings ends with the blank line; without them, the headers stay unfinished.
  socket.write(head.join('\r\n'));
  if (bodyPart) socket.write(bodyPart);
  return { text: () => text, closed, socket };
}

/** Headers of a POST /v1/events announcing `length` body bytes, ended by the blank line. */
const ingestHead = (key: string, length: number) => [
  'POST /v1/events HTTP/1.1',
  'Host: gateway',
  'Content-Type: application/json',
  `Content-Length: ${length}`,
  `Authorization: Bearer ${key}`,
  '',
  '',
];

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

describe('tenant guard: authentication before work, bounded caches, timeouts, rate limits, no cross-tenant metadata', () => {
  const p = new Platform('guard', 3, {
    // Short enough that a request left waiting for its body is visibly cut by these (408), so
    // a 401/429 answer to an unfinished body shows the gateway did not wait for it.
    TRIBUTARY_HEADERS_TIMEOUT_MS: '1000',
    TRIBUTARY_REQUEST_TIMEOUT_MS: '3000',
    // Lookups trusted for 10 minutes: a revoked key still working shows it was served from the
    // cache (the signal that a flood did not evict it). The cache is far smaller than the flood.
    TRIBUTARY_KEY_CACHE_MS: '600000',
    TRIBUTARY_KEY_CACHE_SIZE: '100',
    DATABASE_POOL_SIZE: '3',
    TRIBUTARY_TENANT_RATE: '1',
    TRIBUTARY_TENANT_BURST: '20',
    TRIBUTARY_READ_RATE: '1',
    TRIBUTARY_READ_BURST: '10',
    TRIBUTARY_ADMIN_RATE: '1',
    TRIBUTARY_ADMIN_BURST: '3',
  });
  let ingestKey: string;
  let readKey: string;

  beforeAll(async () => {
    // No processor: the tests lock tables the processor writes.
    await p.start({ processors: 0 });
    ingestKey = await p.tenant('ta', ['ingest', 'read', 'admin']);
    readKey = await p.key('ta', ['read']);
    await p.tenant('tb', ['ingest', 'read']);
  });
  afterAll(() => p.stop());

  /** Runs `work` while the test holds an ACCESS EXCLUSIVE lock on one of the platform's tables. */
  async function whileLocked<T>(table: string, work: (waiting: () => Promise<number>) => Promise<T>): Promise<T> {
    const c: PoolClient = await p.db.connect();
    try {
      await c.query('BEGIN');
      await c.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      // Backends (the gateway's) queued behind this lock.
      const waiting = async () => (await p.db.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = $1::regclass`, [`${p.schema}.${table}`])).rows[0].n;
      return await work(waiting);
    } finally {
      await c.query('ROLLBACK');
      c.release();
    }
  }

  describe('authentication from the headers, before the body', () => {
    it('answers 401 to a bad key and 403 to a key without the role while the body is still unfinished (it never waits for it)', async () => {
      const readOnly = await p.key('ta', ['read']);
      for (const [key, status] of [[randomKey(), 401], ['not-a-key', 401], [readOnly, 403]] as const) {
        // 1,000 bytes announced, 10 sent, the rest never: a gateway that read the body first
        // would wait until TRIBUTARY_REQUEST_TIMEOUT_MS and answer 408.
        const r = rawRequest(p.url, ingestHead(key, 1000), '{"type":"a');
        await waitFor(`the ${status} answer`, async () => statusOf(r.text()) !== 0, 10000, 20);
        expect(statusOf(r.text())).toBe(status);
        expect(r.text()).toContain('application/problem+json');
        // The unread body cannot be followed by another request: the gateway closes the socket.
        expect(r.text().toLowerCase()).toContain('connection: close');
        await r.closed;
      }
      // The Fastify routes with a body do the same: a schema write, an operator call.
      for (const [path, method, key] of [['/v1/schemas/t', 'PUT', randomKey()], ['/v1/admin/tenants', 'POST', 'not-the-operator-token']] as const) {
        const r = rawRequest(p.url, [`${method} ${path} HTTP/1.1`, 'Host: gateway', 'Content-Type: application/json', 'Content-Length: 1000', `Authorization: Bearer ${key}`, '', ''], '{"type":');
        await waitFor(`the 401 answer to ${method} ${path}`, async () => statusOf(r.text()) !== 0, 10000, 20);
        expect(statusOf(r.text())).toBe(401);
        expect(r.text()).toContain('application/problem+json');
        await r.closed;
      }
    });

    it('refuses malformed keys without a database query: they answer while every key lookup is blocked', async () => {
      await whileLocked('api_keys', async (waiting) => {
        // A well-formed unknown key goes to the database, and waits behind the lock.
        const lookup = p.request('POST', '/v1/events', { key: randomKey(), body: { type: 'a' } });
        let settled = false;
        void lookup.then(() => (settled = true));
        await waitFor('the key lookup blocked on api_keys', async () => (await waiting()) >= 1, 10000, 50);

        for (const bad of ['trb_unknown', 'x'.repeat(47), `trb_${'A'.repeat(42)}=`, `trb_${'A'.repeat(2000)}`]) {
          const r = await p.request('POST', '/v1/events', { key: bad, body: { type: 'a' } });
          expect(r.status).toBe(401);
          expect(r.body.code).toBe('unauthorized');
        }
        const none = await p.request('GET', '/v1/events', {});
        expect(none.status).toBe(401);
        // Every malformed key was answered while the lookup was still waiting on the lock.
        expect(settled).toBe(false);
        expect(await waiting()).toBeGreaterThanOrEqual(1);
        // Wrapped: returning the promise itself would wait for it while the lock is held.
        return { lookup };
      }).then(async ({ lookup }) => expect((await lookup).status).toBe(401));
    });

    it('authenticates on its own pool: a key never seen before is checked while every main-pool connection is stuck', async () => {
      const freshReadOnly = await p.key('ta', ['read']);
      const freshIngestOnly = await p.key('ta', ['ingest']);
      const other = await p.key('tb', ['read']);
      await whileLocked('events', async (waiting) => {
        // DATABASE_POOL_SIZE is 3 here: five reads of the event list hold all three connections.
        const reads = Array.from({ length: 5 }, () => p.request('GET', '/v1/events?limit=1', { key: other }));
        await waitFor('the main pool held by blocked reads', async () => (await waiting()) >= 3, 10000, 50);
        // Each needs a key lookup (not cached yet) and nothing else: 403 from the key pool.
        expect((await p.request('POST', '/v1/events', { key: freshReadOnly, body: { type: 'a' } })).status).toBe(403);
        expect((await p.request('GET', '/v1/events', { key: freshIngestOnly })).status).toBe(403);
        expect((await p.request('GET', '/v1/events', { key: randomKey() })).status).toBe(401);
        expect(await waiting()).toBeGreaterThanOrEqual(3);
        return { reads };
      }).then(async ({ reads }) => {
        for (const r of await Promise.all(reads)) expect(r.status).toBe(200);
      });
    });

    it('a flood of random keys ten times the cache size does not evict a key in use: it is still served from the cache', async () => {
      const used = await p.key('ta', ['read']);
      const unused = await p.key('ta', ['read']);
      expect((await p.request('GET', '/v1/projections', { key: used })).status).toBe(200);

      let next = 0;
      const flood = 1000;
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          while (next < flood) {
            next++;
            expect((await p.request('GET', '/v1/projections', { key: randomKey() })).status).toBe(401);
          }
        }),
      );

      // Both revoked in the database: a lookup would now refuse either.
      const hashes = [used, unused].map((k) => createHash('sha256').update(k).digest());
      expect((await p.db.query(`UPDATE api_keys SET revoked_at = now() WHERE key_hash = ANY($1)`, [hashes])).rowCount).toBe(2);
      // The key in use answers from the cache, so the flood did not push it out.
      expect((await p.request('GET', '/v1/projections', { key: used })).status).toBe(200);
      // The control: a key not in the cache is looked up and refused.
      expect((await p.request('GET', '/v1/projections', { key: unused })).status).toBe(401);
    });
  });

  describe('timeouts on the HTTP server', () => {
    it('closes a socket whose headers never finish (408)', async () => {
      const r = rawRequest(p.url, ['POST /v1/events HTTP/1.1', 'Host: gateway', 'Content-Type: application/json']);
      await waitFor('the socket closed by the headers timeout', () => r.closed.then(() => true), 15000);
      expect(r.text() === '' || statusOf(r.text()) === 408).toBe(true);
    });

    it('closes a socket whose body never finishes, on the ingest path and on Fastify routes (408)', async () => {
      const ingest = rawRequest(p.url, ingestHead(ingestKey, 1000), '{"type":"a');
      const schema = rawRequest(
        p.url,
        ['PUT /v1/schemas/slow HTTP/1.1', 'Host: gateway', 'Content-Type: application/json', 'Content-Length: 1000', `Authorization: Bearer ${ingestKey}`, '', ''],
        '{"type":',
      );
      for (const r of [ingest, schema]) {
        await waitFor('the socket closed by the request timeout', () => r.closed.then(() => true), 15000);
        expect(statusOf(r.text())).toBe(408);
      }
    });
  });

  describe('rate limits before the work, on every kind of request', () => {
    it('counts rejected events: a batch of invalid events spends the tenant\'s tokens, the next event gets 429', async () => {
      const key = await p.tenant('flood', ['ingest']);
      // Burst 20, rate 1/s: twenty events that all fail validation take the twenty tokens.
      const invalid = await p.request('POST', '/v1/events', { key, body: Array.from({ length: 20 }, () => ({ data: {} })) });
      expect(invalid.status).toBe(422);
      expect(invalid.body.rejected).toBe(20);
      const next = await p.request('POST', '/v1/events', { key, body: { type: 'ok' } });
      expect(next.status).toBe(429);
      expect(next.headers.get('content-type')).toContain('application/problem+json');
      expect(next.body.code).toBe('rate_limited');
      expect(Number(next.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

      // Out of tokens, a request is refused from its headers: 429 before its body arrives.
      const r = rawRequest(p.url, ingestHead(key, 1000), '{"type":"a');
      await waitFor('the 429 answer', async () => statusOf(r.text()) !== 0, 10000, 20);
      expect(statusOf(r.text())).toBe(429);
      expect(r.text().toLowerCase()).toContain('retry-after:');
      await r.closed;
    });

    it('answers 429 with Retry-After to reads over TRIBUTARY_READ_RATE, and only to that tenant', async () => {
      const key = await p.tenant('reader', ['read']);
      const quiet = await p.tenant('quiet', ['read']);
      const statuses: number[] = [];
      let limited: Awaited<ReturnType<Platform['request']>> | undefined;
      for (let i = 0; i < 40 && !limited; i++) {
        const r = await p.request('GET', '/v1/events?limit=1', { key });
        statuses.push(r.status);
        if (r.status === 429) limited = r;
      }
      // Burst 10: the first ten pass.
      expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
      expect(limited?.status).toBe(429);
      expect(limited?.headers.get('content-type')).toContain('application/problem+json');
      expect(limited?.body.code).toBe('rate_limited');
      expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await p.request('GET', '/v1/dead-letters', { key })).status).toBe(429);
      expect((await p.request('GET', '/v1/events?limit=1', { key: quiet })).status).toBe(200);
    });

    it('answers 429 with Retry-After to schema writes and dead-letter actions over TRIBUTARY_ADMIN_RATE', async () => {
      const key = await p.tenant('schemer', ['read', 'admin']);
      // Burst 3: three schema writes pass, the fourth and a dead-letter retry are refused
      // before any lookup (the dead letter does not even exist: 429, not 404).
      for (let i = 0; i < 3; i++) expect((await p.request('PUT', `/v1/schemas/t${i}`, { key, body: { type: 'object' } })).status).toBe(200);
      const put = await p.request('PUT', '/v1/schemas/t3', { key, body: { type: 'object' } });
      expect(put.status).toBe(429);
      expect(put.body.code).toBe('rate_limited');
      expect(Number(put.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const retry = await p.request('POST', '/v1/dead-letters/1/retry', { key });
      expect(retry.status).toBe(429);
      expect(Number(retry.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Reads have their own bucket.
      expect((await p.request('GET', '/v1/dead-letters', { key })).status).toBe(200);
    });
  });

  describe('no other tenant\'s metadata', () => {
    it('GET /v1/projections shows the caller\'s tenant only: another tenant\'s rebuild is not named', async () => {
      const rebuilt = await p.cli('rebuild', 'counts', '--tenant', 'tb', '--json');
      expect(rebuilt.code).toBe(0);
      const a = await p.request('GET', '/v1/projections', { key: readKey });
      expect(a.status).toBe(200);
      expect(a.body.items[0]).toMatchObject({ name: 'counts', status: 'live', rebuild: null });
      expect(JSON.stringify(a.body)).not.toContain('"tb"');
      // tb sees its own rebuild.
      const tb = await p.key('tb', ['read']);
      const b = await p.request('GET', '/v1/projections', { key: tb });
      expect(b.body.items[0].rebuild).toMatchObject({ tenant: 'tb', targetVersion: 1 });
      // The operator's CLI still sees everything.
      const list = await p.cli('projections', 'list', '--json');
      expect(list.out).toContain('"tb"');
    });

    it('serves /metrics on the operations port only: the public port answers 404', async () => {
      const pub = await fetch(`${p.url}/metrics`);
      expect(pub.status).toBe(404);
      const body = await pub.text();
      expect(body).not.toContain('tributary_events');
      const ops = await fetch(`${p.opsUrl}/metrics`);
      expect(ops.status).toBe(200);
      const text = await ops.text();
      expect(text).toContain('tributary_http_request_duration_seconds');
      expect(text).toContain('tributary_events_rejected_total');
      // The operations port serves nothing else.
      expect((await fetch(`${p.opsUrl}/v1/events`, { headers: { authorization: `Bearer ${ingestKey}` } })).status).toBe(404);
    });
  });
});

describe('Postgres statement limits', () => {
  it('every pool the apps make carries statement_timeout and idle_in_transaction_session_timeout; a long statement is cancelled', async () => {
    const env = { TRIBUTARY_ADMIN_TOKEN: 'x'.repeat(16), DATABASE_URL: process.env.DATABASE_URL, DATABASE_STATEMENT_TIMEOUT_MS: '500', DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '700' };
    // The defaults: 30 s / 60 s for the gateway (and processor), no statement limit for the CLI.
    expect(loadGatewayConfig({ TRIBUTARY_ADMIN_TOKEN: 'x'.repeat(16) }).db).toMatchObject({ statementTimeoutMs: 30000, idleInTransactionTimeoutMs: 60000 });
    expect(loadReplayConfig({}).db).toMatchObject({ statementTimeoutMs: 0, idleInTransactionTimeoutMs: 60000 });

    const pool = createPool(loadGatewayConfig(env).db, 'tributary-test-limits');
    try {
      expect((await pool.query('SHOW statement_timeout')).rows[0].statement_timeout).toBe('500ms');
      expect((await pool.query('SHOW idle_in_transaction_session_timeout')).rows[0].idle_in_transaction_session_timeout).toBe('700ms');
      await expect(pool.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });

      // A transaction whose holder goes quiet is ended by Postgres, and its connection freed.
      const c = await pool.connect();
      c.on('error', () => undefined);
      await c.query('BEGIN');
      await new Promise((r) => setTimeout(r, 1500));
      await expect(c.query('SELECT 1')).rejects.toThrow();
      c.release(true);
      expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await pool.end();
    }
  });

  describe('in the gateway', () => {
    const p = new Platform('stmt', 1, { DATABASE_STATEMENT_TIMEOUT_MS: '1000' });
    let key: string;
    beforeAll(async () => {
      await p.start({ processors: 0 });
      key = await p.tenant('acme', ['read']);
    });
    afterAll(() => p.stop());

    it('a read stuck behind a lock is cancelled at DATABASE_STATEMENT_TIMEOUT_MS: 503 with Retry-After while the lock is still held', async () => {
      const c = await p.db.connect();
      try {
        await c.query('BEGIN');
        await c.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
        const r = await p.request('GET', '/v1/events?limit=1', { key });
        expect(r.status).toBe(503);
        expect(r.body.code).toBe('database_unavailable');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        // The gateway's statement is gone from Postgres, not just abandoned by the client.
        const waiting = await p.db.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = $1::regclass`, [`${p.schema}.events`]);
        expect(waiting.rows[0].n).toBe(0);
      } finally {
        await c.query('ROLLBACK');
        c.release();
      }
      expect((await p.request('GET', '/v1/events?limit=1', { key })).status).toBe(200);
    });
  });
});
