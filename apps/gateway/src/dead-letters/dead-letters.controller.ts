import { Controller, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import type { Principal } from '@tributary/auth/api-keys';
import { DeadLettersService } from '@tributary/projections/dead-letters.service';
import { AuthGuard, CurrentPrincipal, RequireRole } from '../http/auth.guard';
import { invalid } from '../http/body';
import { queryTime } from '../http/query-time';

@Controller('v1/dead-letters')
@UseGuards(AuthGuard)
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLettersService) {}

  @Get()
  @RequireRole('read')
  async list(@CurrentPrincipal() who: Principal, @Query() q: Record<string, string | undefined>) {
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    const errors = [];
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) errors.push({ path: '/query/limit', message: 'must be an integer from 1 to 1000' });
    const since = q.since === undefined ? undefined : queryTime(q.since);
    if (since?.error) errors.push({ path: '/query/since', message: since.error });
    // Dead-letter ids are bigints: more digits would be out of range for Postgres (22003).
    if (q.cursor !== undefined && !/^\d{1,18}$/.test(q.cursor)) errors.push({ path: '/query/cursor', message: 'is not a cursor this API returned' });
    if (q.status !== undefined && !['open', 'resolved', 'discarded'].includes(q.status)) errors.push({ path: '/query/status', message: 'must be open, resolved or discarded' });
    if (errors.length) throw invalid(errors);
    const items = await this.deadLetters.list(who.tenant, { type: q.type, since: since?.iso, status: q.status ?? 'open', limit, afterId: q.cursor });
    return { items, nextCursor: items.length === limit ? items[items.length - 1].id : null };
  }

  /** Re-runs the checks; on success the event is applied and its parked stream released in order. */
  @Post(':id/retry')
  @HttpCode(202)
  @RequireRole('admin')
  retry(@CurrentPrincipal() who: Principal, @Param('id') id: string) {
    return this.deadLetters.retry(who.tenant, this.id(id));
  }

  /** Gives up on the event (kept in the event store as `discarded`) and releases its stream. */
  @Post(':id/discard')
  @HttpCode(202)
  @RequireRole('admin')
  discard(@CurrentPrincipal() who: Principal, @Param('id') id: string) {
    return this.deadLetters.discard(who.tenant, this.id(id));
  }

  private id(id: string): string {
    if (!/^\d{1,18}$/.test(id)) throw invalid([{ path: '/path/id', message: 'must be a dead-letter id' }]);
    return id;
  }
}
