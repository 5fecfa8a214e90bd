import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import type { Principal } from '@tributary/auth/api-keys';
import { ErrorCode, FieldError, TributaryError } from '@tributary/contracts/errors';
import { unstorableText } from '@tributary/contracts/storable';
import { Bucket, EventsRepository } from '@tributary/store/events.repository';
import { AuthGuard, CurrentPrincipal, RequireRole } from '../http/auth.guard';
import { invalid } from '../http/body';
import { queryTime } from '../http/query-time';

type Q = Record<string, string | undefined>;

/** Query parameters are checked in one pass so every bad one is reported with its path. */
class QueryReader {
  readonly errors: FieldError[] = [];
  constructor(private readonly q: Q) {}
  time(name: string): string | undefined {
    const v = this.q[name];
    if (v === undefined) return undefined;
    const t = queryTime(v);
    if (t.error) this.errors.push({ path: `/query/${name}`, message: t.error });
    return t.iso;
  }
  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.q[name];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) this.errors.push({ path: `/query/${name}`, message: `must be an integer from ${min} to ${max}` });
    return n;
  }
  done() {
    if (this.errors.length) throw invalid(this.errors);
  }
}

function encodeCursor(time: string, id: string): string {
  return Buffer.from(JSON.stringify([time, id])).toString('base64url');
}

function decodeCursor(c: string, errors: FieldError[]): { time: string; id: string } | undefined {
  try {
    const [time, id] = JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
    // A cursor is the client's text too: what it decodes to goes into the query.
    const t = typeof time === 'string' ? queryTime(time) : undefined;
    if (t?.iso && typeof id === 'string' && !unstorableText(id)) return { time: t.iso, id };
  } catch {
    /* reported below */
  }
  errors.push({ path: '/query/cursor', message: 'is not a cursor this API returned' });
  return undefined;
}

@Controller('v1')
@UseGuards(AuthGuard)
@RequireRole('read')
export class QueryController {
  constructor(private readonly events: EventsRepository) {}

  @Get('events/:id')
  async get(@CurrentPrincipal() who: Principal, @Param('id') id: string) {
    const e = await this.events.get(who.tenant, id);
    // Another tenant's id answers exactly like a missing one.
    if (!e) throw new TributaryError(ErrorCode.NotFound, `no processed event '${id}'`);
    return e;
  }

  @Get('events')
  async list(@CurrentPrincipal() who: Principal, @Query() q: Q) {
    const r = new QueryReader(q);
    const limit = r.int('limit', 100, 1, 1000);
    const from = r.time('from');
    const to = r.time('to');
    const after = q.cursor ? decodeCursor(q.cursor, r.errors) : undefined;
    r.done();
    const items = await this.events.list(who.tenant, { type: q.type, subject: q.subject, from, to, limit, after });
    const last = items[items.length - 1];
    return { items, nextCursor: items.length === limit && last ? encodeCursor(last.time, last.id) : null };
  }

  @Get('streams/:subject')
  async stream(@CurrentPrincipal() who: Principal, @Param('subject') subject: string, @Query() q: Q) {
    const r = new QueryReader(q);
    const fromSequence = r.int('fromSequence', 1, 1, Number.MAX_SAFE_INTEGER);
    const limit = r.int('limit', 1000, 1, 1000);
    r.done();
    const events = await this.events.stream(who.tenant, subject, fromSequence, limit);
    return { subject, events };
  }

  @Get('stats/counts')
  async counts(@CurrentPrincipal() who: Principal, @Query() q: Q) {
    const r = new QueryReader(q);
    const bucket = (q.bucket ?? 'minute') as Bucket;
    if (!['minute', 'hour', 'day'].includes(bucket)) r.errors.push({ path: '/query/bucket', message: 'must be minute, hour or day' });
    const from = r.time('from');
    const to = r.time('to');
    r.done();
    const { series, duplicates } = await this.events.counts(who.tenant, bucket, { type: q.type, from, to });
    return { bucket, series, duplicates };
  }
}
