import { context, propagation, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { tracer } from '@tributary/observability/tracing';

const SPAN = Symbol('tributary.serverSpan');
type Traced = FastifyRequest & { [SPAN]?: Span };

// Probes and scrapes are noise in traces.
const UNTRACED = /^\/(health|metrics)/;

function end(req: Traced, status: number | undefined): void {
  const span = req[SPAN];
  if (!span) return;
  req[SPAN] = undefined;
  if (status === undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client closed the connection before the answer' });
  } else {
    span.setAttribute('http.response.status_code', status);
    // Server spans are errors for 5xx only (OpenTelemetry HTTP semantic conventions).
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/**
 * The gateway's HTTP server spans, one per request (every route, Nest's and the plain ingest
 * route alike), made in Fastify hooks instead of by OpenTelemetry's HttpInstrumentation, which
 * cost more per request than the ingest route's own work. The span continues the client's
 * `traceparent`, is named `<METHOD> <route pattern>`, and is the active context for the rest of
 * the request: Fastify runs the handler in the async context of onRequest (its body parser binds
 * to it), so the PRODUCER span, Postgres spans and log lines' trace_id hang under it.
 */
export function traceRequests(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (req: Traced, _reply, done) => {
    if (UNTRACED.test(req.url)) return done();
    const route = req.routeOptions.url;
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const q = req.url.indexOf('?');
    const span = tracer().startSpan(
      route ? `${req.method} ${route}` : req.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method,
          ...(route ? { 'http.route': route } : {}),
          'url.path': q < 0 ? req.url : req.url.slice(0, q),
          'url.scheme': 'http',
        },
      },
      parent,
    );
    const peer = req.socket.remoteAddress;
    if (peer) span.setAttribute('client.address', peer);
    const agent = req.headers['user-agent'];
    if (agent) span.setAttribute('user_agent.original', agent);
    req[SPAN] = span;
    context.with(trace.setSpan(parent, span), done);
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
