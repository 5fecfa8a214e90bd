import { Lru, SingleFlight } from './lru';

describe('Lru', () => {
  it('given a full cache, forgets the least recently used entry, not the one just read', () => {
    const c = new Lru<string, number>(2);
    c.set('a', 1).set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3);
    expect(c.has('b')).toBe(false);
    expect(c.get('a')).toBe(1);
    expect(c.get('c')).toBe(3);
    expect(c.size).toBe(2);
  });

  it('never holds more than its capacity, whatever the number of distinct keys', () => {
    const c = new Lru<number, number>(100);
    for (let i = 0; i < 10_000; i++) c.set(i, i);
    expect(c.size).toBe(100);
    expect(c.get(9_999)).toBe(9_999);
    expect(c.get(0)).toBeUndefined();
  });

  it('peek does not refresh recency; undefined values are kept', () => {
    const c = new Lru<string, number | undefined>(2);
    c.set('a', undefined).set('b', 2);
    expect(c.has('a')).toBe(true);
    expect(c.peek('a')).toBeUndefined();
    c.set('c', 3);
    expect(c.has('a')).toBe(false);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new Lru(0)).toThrow(RangeError);
  });
});

describe('SingleFlight', () => {
  it('shares one load between concurrent callers and forgets it once settled', async () => {
    const f = new SingleFlight<string, number>();
    let loads = 0;
    let release!: (n: number) => void;
    const load = () => {
      loads++;
      return new Promise<number>((r) => (release = r));
    };
    const a = f.run('k', load);
    const b = f.run('k', load);
    expect(f.inFlight).toBe(1);
    release(7);
    expect(await Promise.all([a, b])).toEqual([7, 7]);
    expect(loads).toBe(1);
    expect(f.inFlight).toBe(0);
  });

  it('a failed load is not cached: the next call loads again', async () => {
    const f = new SingleFlight<string, number>();
    await expect(f.run('k', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await f.run('k', () => Promise.resolve(1))).toBe(1);
  });
});
