import { Inject, Injectable } from '@nestjs/common';
import type { GatewayConfig } from '@tributary/config/config';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { GATEWAY_CONFIG } from '../tokens';
import { RateLimiter } from './rate-limiter';

/** What a tenant's request costs: ingest in events, reads and admin actions in requests. */
export type LimitedAction = 'ingest' | 'read' | 'admin';

const UNIT: Record<LimitedAction, string> = { ingest: 'events/s', read: 'read requests/s', admin: 'admin requests/s' };

/**
 * The per-tenant rate limits of this gateway, one bucket per tenant and action: `ingest`
 * (TRIBUTARY_TENANT_RATE, events), `read` (every GET of the query API, TRIBUTARY_READ_RATE) and
 * `admin` (schema writes and dead-letter retry/discard, TRIBUTARY_ADMIN_RATE). Tokens are taken
 * as soon as the tenant is known and before the work they pay for, so a refused request costs
 * the gateway a header check and nothing else.
 */
@Injectable()
export class TenantLimits {
  private readonly limiters: Record<LimitedAction, RateLimiter>;

  constructor(@Inject(GATEWAY_CONFIG) cfg: GatewayConfig) {
    const make = (r: { rate: number; burst: number }) => new RateLimiter(r.rate, r.burst);
    this.limiters = { ingest: make(cfg.rates.ingest), read: make(cfg.rates.read), admin: make(cfg.rates.admin) };
  }

  /** Takes `cost` tokens of the tenant's `action` bucket, or throws 429 with the seconds to wait. */
  take(action: LimitedAction, tenant: string, cost = 1): void {
    const l = this.limiters[action];
    const wait = l.take(tenant, cost);
    if (wait > 0) {
      throw new TributaryError(ErrorCode.RateLimited, `tenant '${tenant}' is over its rate of ${l.ratePerSecond} ${UNIT[action]}; retry in ${wait} s`, [], wait);
    }
  }
}
