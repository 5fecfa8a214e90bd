import { countsProjection, minuteBucket } from './counts.projection';
import type { ProjectedEvent } from './projection';

const ev = (type: string, time: string, tenant = 't1'): ProjectedEvent => ({ tenant, id: `${type}-${time}`, type, subject: null, sequence: null, time: new Date(time), data: null });

describe('counts projection', () => {
  it('given events in two minutes, when folded, then counts per tenant, type and minute', () => {
    let d = countsProjection.init();
    for (const e of [ev('a', '2026-01-01T10:00:05Z'), ev('a', '2026-01-01T10:00:59Z'), ev('a', '2026-01-01T10:01:00Z'), ev('b', '2026-01-01T10:00:01Z'), ev('a', '2026-01-01T10:00:30Z', 't2')]) {
      d = countsProjection.evolve(d, e);
    }
    expect([...d.values()].map((r) => `${r.tenant}/${r.type}/${r.bucket}=${r.count}`).sort()).toEqual([
      't1/a/2026-01-01T10:00:00.000Z=2',
      't1/a/2026-01-01T10:01:00.000Z=1',
      't1/b/2026-01-01T10:00:00.000Z=1',
      't2/a/2026-01-01T10:00:00.000Z=1',
    ]);
  });

  it('buckets by UTC minute, dropping seconds and milliseconds', () => {
    expect(minuteBucket(new Date('2026-03-04T05:06:07.891Z'))).toBe('2026-03-04T05:06:00.000Z');
  });
});
