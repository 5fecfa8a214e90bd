/**
 * Per-tenant token bucket, counted in events (a batch of 100 costs 100), per gateway instance.
 * Refills continuously at `ratePerSecond` up to `burst`.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly ratePerSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  /** Takes `cost` tokens; returns 0 when allowed, else the seconds to wait before retrying. */
  take(tenant: string, cost: number): number {
    const t = this.now();
    const b = this.buckets.get(tenant) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerSecond);
    b.at = t;
    this.buckets.set(tenant, b);
    if (cost <= b.tokens) {
      b.tokens -= cost;
      return 0;
    }
    // A request larger than the burst can never pass whole; tell the client when the bucket is full.
    const missing = Math.min(cost, this.burst) - b.tokens;
    return Math.max(1, Math.ceil(missing / this.ratePerSecond));
  }
}
