import { isDatabaseUnavailable } from '@tributary/store/failure';
import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'http';
import { bodyTooLarge } from '@tributary/contracts/decode-ingest';
import { ErrorCode, FieldError, TributaryError } from '@tributary/contracts/errors';
import { Logger } from '@tributary/observability/logger';

export function statusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.MalformedJson:
    case ErrorCode.BadRequest:
      return 400;
    case ErrorCode.Unauthorized:
      return 401;
    case ErrorCode.Forbidden:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.Conflict:
      return 409;
    case ErrorCode.PayloadTooLarge:
    case ErrorCode.EventTooLarge:
      return 413;
    case ErrorCode.UnsupportedMediaType:
      return 415;
    case ErrorCode.ValidationFailed:
      return 422;
    case ErrorCode.RateLimited:
      return 429;
    case ErrorCode.BrokerUnavailable:
    case ErrorCode.DatabaseUnavailable:
    case ErrorCode.ShuttingDown:
      return 503;
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

// 57014 query_canceled (statement_timeout), 57P05 idle_in_transaction_session_timeout.
function isStatementTimeout(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === '57014' || code === '57P05';
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code?: string;
  errors?: FieldError[];
  details?: unknown;
}

export function problemOf(e: unknown): { problem: Problem; retryAfter?: number } {
  // Fastify rejects an oversized body before any route runs; give it our code and the limit.
  const raw = e as { code?: string; statusCode?: number; getStatus?: () => number };
  if (raw?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || raw?.statusCode === 413 || (e instanceof HttpException && e.getStatus() === 413)) {
    e = bodyTooLarge();
  }
  // Postgres restarting or unreachable (API keys, queries): a transient outage, not a bug.
  if (isDatabaseUnavailable(e)) e = new TributaryError(ErrorCode.DatabaseUnavailable, `the database is unavailable: ${(e as Error).message}`, [], 2);
  // Postgres cancelled the statement at DATABASE_STATEMENT_TIMEOUT_MS (waiting on a lock, or
  // overloaded): the request may succeed when retried; the connection is free again.
  if (isStatementTimeout(e)) e = new TributaryError(ErrorCode.DatabaseUnavailable, 'the database did not answer within the statement timeout; retry later', [], 2);
  if (e instanceof TributaryError) {
    const status = statusOf(e.code);
    return {
      problem: {
        type: `https://tributary.dev/problems/${e.code}`,
        title: TITLES[status],
        status,
        detail: e.message,
        code: e.code,
        ...(e.errors.length ? { errors: e.errors } : {}),
      },
      retryAfter: e.retryAfterSeconds,
    };
  }
  // Fastify's own errors (body too large, bad content-length …) carry a statusCode.
  const status = e instanceof HttpException ? e.getStatus() : Number((e as { statusCode?: number })?.statusCode) || 500;
  const detail = status >= 500 && !(e instanceof HttpException) ? 'internal error' : String((e as Error).message);
  // Terminus puts each dependency's state in the exception body; keep it for operators.
  const details = e instanceof HttpException && typeof e.getResponse() === 'object' ? { details: e.getResponse() } : {};
  return { problem: { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...details } };
}

const log = new Logger('gateway');

/** The problem for `e`, with the failure logged when it is a bug (5xx other than 503). */
function answerFor(e: unknown): { problem: Problem; retryAfter?: number } {
  const answer = problemOf(e);
  if (answer.problem.status >= 500 && answer.problem.status !== 503) log.error('request_failed', { error: (e as Error)?.stack ?? String(e) });
  return answer;
}

export function sendProblem(reply: FastifyReply, e: unknown): void {
  const { problem, retryAfter } = answerFor(e);
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  void reply.status(problem.status).header('content-type', 'application/problem+json').send(JSON.stringify(problem));
}

/** sendProblem for a plain Node response (the ingest path, ingest.http.ts); returns the status sent. */
export function writeProblem(res: ServerResponse, e: unknown, headers: Record<string, string> = {}): number {
  const { problem, retryAfter } = answerFor(e);
  const body = JSON.stringify(problem);
  res.writeHead(problem.status, {
    ...headers,
    ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  return problem.status;
}

/** Every error leaves the gateway as application/problem+json (RFC 9457). */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  catch(e: unknown, host: ArgumentsHost): void {
    sendProblem(host.switchToHttp().getResponse<FastifyReply>(), e);
  }
}
