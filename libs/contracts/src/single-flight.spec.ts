import { SingleFlight } from './single-flight';

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
