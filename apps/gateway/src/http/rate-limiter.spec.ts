import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('given a burst of 100 at 50/s, lets 100 events through, then refuses with the wait in seconds', () => {
    let now = 0;
    const r = new RateLimiter(50, 100, () => now);
    expect(r.take('a', 60)).toBe(0);
    expect(r.take('a', 40)).toBe(0);
    expect(r.take('a', 10)).toBe(1);
    now = 1000; // 50 tokens back
    expect(r.take('a', 50)).toBe(0);
    expect(r.take('a', 1)).toBe(1);
  });

  it('keeps tenants apart', () => {
    const r = new RateLimiter(10, 10, () => 0);
    expect(r.take('a', 10)).toBe(0);
    expect(r.take('b', 10)).toBe(0);
    expect(r.take('a', 1)).toBeGreaterThan(0);
  });

  it('tells a request larger than the burst how long until the bucket is full', () => {
    const r = new RateLimiter(100, 200, () => 0);
    expect(r.take('a', 200)).toBe(0);
    expect(r.take('a', 1000)).toBe(2);
  });
});
