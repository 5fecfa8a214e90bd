import { noisyNeighbourRun } from '../bench/noisy-neighbour';

/**
 * The bench's noisy-neighbour scenario, small: a tenant flooding at 10× its rate limit and holding
 * slow connections while a quiet tenant sends. Latency is the bench's to measure (`npm run bench --
 * --scenario noisy-neighbour`, docs/performance.md); here only what must hold whatever the
 * machine's load: every quiet event is accepted and processed, and the flood was refused (429).
 */
describe('noisy neighbour', () => {
  it('processes every event of the quiet tenant while another floods at 10× its limit and holds 50 slow connections', async () => {
    const f = await noisyNeighbourRun('noisy', { quietRate: 50, quietEvents: 200, tenantRate: 200, slowConnections: 50 }, true);
    expect({ errors: f.quietErrors, processed: f.quietProcessed }).toEqual({ errors: 0, processed: 200 });
    expect(f.noisyRateLimited).toBeGreaterThan(0);
    process.stderr.write(`[noisy-neighbour] quiet ingest p99 ${f.ingestP99.toFixed(1)} ms, e2e p99 ${f.e2eP99.toFixed(1)} ms; noisy accepted ${f.noisyAccepted}, refused ${f.noisyRateLimited} requests\n`);
  }, 120000);
});
