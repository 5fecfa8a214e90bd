import type { FastifyInstance } from 'fastify';
import { sendProblem } from '../http/problem.filter';
import { ApiKeyAuth } from '../http/api-keys';
import { IngestService } from './ingest.service';

const EMPTY = Buffer.alloc(0);

/**
 * `POST /v1/events`, the hot path, as a plain Fastify route: the one way it is served (Nest has no
 * controller for it). Same contract as every other route (docs: /openapi.json): the body arrives
 * as a raw Buffer from the gateway's one content-type parser, then API key with the `ingest`
 * role (401/403), decode, validation, rate limit, produce and 202 after the broker ack; every
 * error, Fastify's own (413 body too large) included, leaves as application/problem+json.
 * Nest's per-request pipeline (guards, reflection, param factories, interceptors, exception
 * zones) cost more than this route's own work at thousands of single-event requests per second.
 */
export function registerIngestRoute(fastify: FastifyInstance, auth: ApiKeyAuth, ingest: IngestService): void {
  fastify.route({
    method: 'POST',
    url: '/v1/events',
    errorHandler: (e, _req, reply) => sendProblem(reply, e),
    handler: async (req, reply) => {
      const who = await auth.tenant(req.headers, 'ingest');
      const answer = await ingest.ingest(who.tenant, req.headers, Buffer.isBuffer(req.body) ? req.body : EMPTY);
      return reply.status(answer.status).send(answer.body);
    },
  });
}
