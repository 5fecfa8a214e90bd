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
 * The contract is the same as through Fastify (docs: /openapi.json): body up to 1 MiB (413 at
 * once, connection closed, as Fastify does), API key with the `ingest` role (401/403), decode
 * (400/415), validation (422), rate limit (429), produce, 202 only after the broker ack (503
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

    if (closing()) {
      req.resume();
      return fail(new TributaryError(ErrorCode.ShuttingDown, 'the gateway is shutting down; retry on another instance', [], 1), { connection: 'close' });
    }
    // As Fastify does: refuse an announced oversized body before reading it, and close the
    // connection after the answer (the client may still be sending).
    if (Number(req.headers['content-length']) > INGEST_LIMITS.bodyBytes) return fail(bodyTooLarge(), { connection: 'close' });

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
        auth
          .tenant(req.headers, 'ingest')
          .then((who) => ingest.ingest(who.tenant, req.headers, body))
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
    req.on('error', (e: Error & { statusCode?: number }) => {
      // A request that broke off (client gone, bad framing): answer 400 if anyone is listening.
      if (!(typeof e.statusCode === 'number' && e.statusCode >= 400)) e.statusCode = 400;
      fail(e, { connection: 'close' });
      finish(400);
    });
  };
}
