import { LruCache } from '@tributary/contracts/lru-cache';

// Buckets of tenants not seen for a while are forgotten first; a forgotten bucket comes back
// full, which is what it would have refilled to anyway after burst / rate seconds.
const TENANTS_TRACKED = 100_000;

/**
 * Per-tenant token bucket, per gateway instance. Refills continuously at `ratePerSecond` up to
 * `burst`; what a token is (an event, a request) is the caller's choice.
 */
export class RateLimiter {
  private readonly buckets = new LruCache<string, { tokens: number; at: number }>(TENANTS_TRACKED);

  constructor(readonly ratePerSecond: number, readonly burst: number, private readonly now: () => number = Date.now) {}

  /** Takes `cost` tokens; returns 0 when allowed, else the seconds to wait before retrying. */
  take(tenant: string, cost: number): number {
    const t = this.now();
    let b = this.buckets.get(tenant);
    if (!b) this.buckets.set(tenant, (b = { tokens: this.burst, at: t }));
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    if (cost <= b.tokens) {
      b.tokens -= cost;
      return 0;
    }
    // A request larger than the burst can never pass whole; tell the client when the bucket is full.
    const missing = Math.min(cost, this.burst) - b.tokens;
    return Math.max(1, Math.ceil(missing / this.ratePerSecond));
  }
}
