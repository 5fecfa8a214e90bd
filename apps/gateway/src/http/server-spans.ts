import { context, Context, propagation, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'http';
import { tracer } from '@tributary/observability/tracing';

const SPAN = Symbol('tributary.serverSpan');
type Traced = FastifyRequest & { [SPAN]?: Span };

// Probes and scrapes are noise in traces.
const UNTRACED = /^\/(health|metrics)/;

/**
 * The server span of one HTTP request: continues the client's `traceparent`, is named
 * `<METHOD> <route pattern>` (just the method when no route matched), and comes with the context
 * to run the request in, so the PRODUCER span, Postgres spans and log lines' trace_id hang under it.
 */
export function startServerSpan(method: string, route: string | undefined, url: string, headers: IncomingHttpHeaders, peer: string | undefined): { span: Span; ctx: Context } {
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  const q = url.indexOf('?');
  const span = tracer().startSpan(
    route ? `${method} ${route}` : method,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': q < 0 ? url : url.slice(0, q), 'url.scheme': 'http' } },
    parent,
  );
  if (route) span.setAttribute('http.route', route);
  if (peer) span.setAttribute('client.address', peer);
  const agent = headers['user-agent'];
  if (agent) span.setAttribute('user_agent.original', agent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Ends a server span with the answer's status; `undefined` = the client left before the answer. */
export function endServerSpan(span: Span, status: number | undefined): void {
  if (status === undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client closed the connection before the answer' });
  } else {
    span.setAttribute('http.response.status_code', status);
    // Server spans are errors for 5xx only (OpenTelemetry HTTP semantic conventions).
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

function end(req: Traced, status: number | undefined): void {
  const span = req[SPAN];
  if (!span) return;
  req[SPAN] = undefined;
  endServerSpan(span, status);
}

/**
 * The gateway's HTTP server spans, one per request, made by the gateway itself instead of
 * OpenTelemetry's HttpInstrumentation (which cost more per request than the ingest path's own
 * work): here in Fastify hooks for every Fastify route; the ingest path (ingest.http.ts) makes
 * its own with the same functions. Fastify runs the handler in the async context of onRequest
 * (its body parser binds to it), so the span is the active context for the rest of the request.
 */
export function traceRequests(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (req: Traced, _reply, done) => {
    if (UNTRACED.test(req.url)) return done();
    const { span, ctx } = startServerSpan(req.method, req.routeOptions.url, req.url, req.headers, req.socket.remoteAddress);
    req[SPAN] = span;
    context.with(ctx, done);
  });
  fastify.addHook('onResponse', (req: Traced, reply, done) => {
    end(req, reply.statusCode);
    done();
  });
  fastify.addHook('onRequestAbort', (req: Traced, done) => {
    end(req, undefined);
    done();
  });
}
