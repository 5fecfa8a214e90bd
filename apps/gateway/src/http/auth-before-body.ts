import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiKeyAuth } from './api-keys';
import { sendProblem } from './problem.filter';

const ADMIN = /^\/v1\/admin(\/|\?|$)/;
const API = /^\/v1\//;

function hasBody(req: FastifyRequest): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/**
 * Fastify reads a route's body before Nest's guards run, so a request with a body to a `/v1`
 * route is authenticated here first, from its headers: the operator token for `/v1/admin`, a
 * live tenant key (roles aside) for the rest. A bad credential gets its 401 without the body
 * being read, and the connection is closed since the body was not consumed. The role (403)
 * and the rate limit stay in AuthGuard, which knows the route; the key lookup it repeats is a
 * cache hit. (`POST /v1/events` does the same in ingest.http.ts.)
 */
export function authenticateBeforeBody(fastify: FastifyInstance, auth: () => ApiKeyAuth): void {
  fastify.addHook('onRequest', async (req, reply) => {
    if (!hasBody(req) || !API.test(req.url)) return;
    try {
      if (ADMIN.test(req.url)) auth().operator(req.headers);
      else await auth().authenticated(req.headers);
    } catch (e) {
      void reply.header('connection', 'close');
      sendProblem(reply, e);
      return reply;
    }
  });
}
