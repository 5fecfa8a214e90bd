import type { IncomingMessage, ServerResponse } from 'http';
import { context } from '@opentelemetry/api';
import { bodyTooLarge, INGEST_LIMITS } from '@tributary/contracts/decode-ingest';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { ApiKeyAuth } from '../http/api-keys';
import { observeHttp } from '../http/http-metrics';
import { writeProblem } from '../http/problem.filter';
import { endServerSpan, startServerSpan } from '../http/server-spans';
import { IngestService } from './ingest.service';

export const INGEST_ROUTE = '/v1/events';

/** `POST /v1/events` (any query string): the requests `ingestHandler` serves instead of Fastify. */
export function isIngestRequest(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  return req.method === 'POST' && url.startsWith(INGEST_ROUTE) && (url.length === INGEST_ROUTE.length || url.charCodeAt(INGEST_ROUTE.length) === 63 /* ? */);
}

/**
 * `POST /v1/events`, the hot path, on Node's HTTP server directly: the one way it is served (the
 * gateway's server hands these requests here and every other request to Fastify, see main.ts).
 * At thousands of single-event requests per second the per-request cost of Fastify and Nest's
 * hooks around the route (request/reply objects, five Nest onRequest/onResponse hooks, the body
 * parser's AsyncResource binding, reply serialisation) was larger than the route's own work.
 * The contract is the same as through Fastify (docs: /openapi.json): API key with the `ingest`
 * role (401/403) and the tenant's first rate token (429) from the headers, before the body is
 * read; body up to 1 MiB (413 at once, connection closed, as Fastify does), decode (400/415),
 * the other events' tokens (429), validation (422), produce, 202 only after the broker ack (503
 * when it does not come); every error as application/problem+json; a server span continuing the
 * client's traceparent; tributary_http_request_duration_seconds; 503 once the gateway is closing.
 */
export function ingestHandler(auth: ApiKeyAuth, ingest: IngestService, closing: () => boolean): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = performance.now();
    const { span, ctx } = startServerSpan('POST', INGEST_ROUTE, req.url ?? INGEST_ROUTE, req.headers, req.socket.remoteAddress);
    let done = false;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      endServerSpan(span, res.destroyed && !res.writableFinished ? undefined : status);
      observeHttp('POST', INGEST_ROUTE, status, (performance.now() - started) / 1000);
    };
    // While the gateway drains, answers close their connection (as Fastify's do).
    const connection = (): Record<string, string> => (closing() ? { connection: 'close' } : {});
    const fail = (e: unknown, headers: Record<string, string> = connection()) => {
      if (done || res.headersSent) return;
      finish(writeProblem(res, e, headers));
    };

    // A request whose body was not read to the end cannot be followed on the same connection.
    const unread = (): Record<string, string> => (req.complete ? connection() : { connection: 'close' });

    if (closing()) {
      req.resume();
      return fail(new TributaryError(ErrorCode.ShuttingDown, 'the gateway is shutting down; retry on another instance', [], 1), { connection: 'close' });
    }
    // As Fastify does: refuse an announced oversized body before reading it, and close the
    // connection after the answer (the client may still be sending).
    if (Number(req.headers['content-length']) > INGEST_LIMITS.bodyBytes) return fail(bodyTooLarge(), { connection: 'close' });

    // Invariant: nothing of the body is read before the key is known to carry `ingest` and the
    // tenant has a token left. Until then the request stream stays paused (TCP pushes back on
    // the client), so a bad key or an exhausted tenant costs a header check, not 1 MiB of
    // buffering and a JSON parse; the answer closes the connection if the body was not all in.
    let tenant = '';
    const read = () => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > INGEST_LIMITS.bodyBytes) {
          req.removeListener('data', onData);
          req.removeListener('end', onEnd);
          fail(bodyTooLarge(), { connection: 'close' });
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () =>
        context.with(ctx, () => {
          const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
          ingest
            .ingest(tenant, req.headers, body)
            .then((answer) => {
              if (done || res.headersSent) return;
              const json = JSON.stringify(answer.body);
              res.writeHead(answer.status, { ...connection(), 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
              res.end(json);
              finish(answer.status);
            })
            .catch((e: unknown) => fail(e));
        });
      req.on('data', onData);
      req.on('end', onEnd);
    };
    context.with(ctx, () =>
      auth
        .tenant(req.headers, 'ingest')
        .then((who) => {
          tenant = who.tenant;
          ingest.admit(tenant);
          if (!done) read();
        })
        .catch((e: unknown) => fail(e, unread())),
    );
    req.on('error', (e: Error & { statusCode?: number }) => {
      // A request that broke off (client gone, bad framing): answer 400 if anyone is listening.
      if (!(typeof e.statusCode === 'number' && e.statusCode >= 400)) e.statusCode = 400;
      fail(e, { connection: 'close' });
      finish(400);
    });
  };
}
