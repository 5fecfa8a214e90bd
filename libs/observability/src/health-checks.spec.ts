import { SharedCheck } from './health-checks';

/** A dependency check whose runs the test settles by hand. */
function manualCheck() {
  const runs: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const run = () => new Promise<void>((resolve, reject) => runs.push({ resolve, reject }));
  return { runs, run };
}

describe('SharedCheck', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('gives concurrent probes one run in flight and its outcome', async () => {
    const c = manualCheck();
    const check = new SharedCheck(c.run, 2000);
    const probes = Array.from({ length: 5 }, () => check.check());
    expect(c.runs).toHaveLength(1);
    c.runs[0].resolve();
    await expect(Promise.all(probes)).resolves.toHaveLength(5);
    // Settled: the next probe checks afresh.
    const next = check.check();
    expect(c.runs).toHaveLength(2);
    c.runs[1].reject(new Error('connection refused'));
    await expect(next).rejects.toThrow('connection refused');
  });

  it('answers down at the budget while the run hangs, without starting another run per probe', async () => {
    const c = manualCheck();
    const check = new SharedCheck(c.run, 2000);
    const first = check.check();
    jest.advanceTimersByTime(2000);
    await expect(first).rejects.toThrow('no answer within 2000 ms');
    const second = check.check();
    expect(c.runs).toHaveLength(1);
    c.runs[0].resolve();
    await expect(second).resolves.toBeUndefined();
  });

  it('drops a run that outlives its own timeouts, so readiness can come back once the dependency answers', async () => {
    const c = manualCheck();
    const check = new SharedCheck(c.run, 2000);
    void check.check().catch(() => undefined);
    jest.advanceTimersByTime(10_001);
    const fresh = check.check();
    expect(c.runs).toHaveLength(2);
    c.runs[1].resolve();
    await expect(fresh).resolves.toBeUndefined();
    // The abandoned run failing late does not fail the probes of the run after it.
    const after = check.check();
    c.runs[0].reject(new Error('late'));
    expect(c.runs).toHaveLength(3);
    c.runs[2].resolve();
    await expect(after).resolves.toBeUndefined();
  });
});
