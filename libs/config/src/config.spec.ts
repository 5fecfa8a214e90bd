import { ConfigError, loadGatewayConfig, loadProcessorConfig, loadReplayConfig } from './config';

describe('config', () => {
  it('fails fast naming every bad variable, without echoing the secret', () => {
    const secret = 'short-secret';
    let err: unknown;
    try {
      loadGatewayConfig({ TRIBUTARY_ADMIN_TOKEN: secret, PORT: 'eighty', DATABASE_SCHEMA: 'Bad Schema' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('PORT must be an integer');
    expect(msg).toContain('TRIBUTARY_ADMIN_TOKEN must be at least 16 characters');
    expect(msg).toContain('DATABASE_SCHEMA');
    expect(msg).not.toContain(secret);
  });

  it('derives defaults: dead-letter topic from the topic, pool from concurrency', () => {
    const c = loadProcessorConfig({ TRIBUTARY_TOPIC: 't1', TRIBUTARY_PARTITIONS_CONCURRENTLY: '6' });
    expect(c.kafka.deadLetterTopic).toBe('t1.dlq');
    expect(c.db.poolSize).toBe(8);
    expect(c.groupId).toBe('tributary-processor');
  });

  it('gives every pool statement and idle-in-transaction limits; the CLI none on statements', () => {
    const token = { TRIBUTARY_ADMIN_TOKEN: 'x'.repeat(16) };
    expect(loadGatewayConfig(token).db).toMatchObject({ statementTimeoutMs: 30000, idleInTransactionTimeoutMs: 60000 });
    expect(loadProcessorConfig({}).db).toMatchObject({ statementTimeoutMs: 30000, idleInTransactionTimeoutMs: 60000 });
    expect(loadReplayConfig({}).db).toMatchObject({ statementTimeoutMs: 0, idleInTransactionTimeoutMs: 60000 });
    expect(loadReplayConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '600000' }).db.statementTimeoutMs).toBe(600000);
  });

  it('gateway: rates per action, an operations port of its own, a headers timeout within the request timeout', () => {
    const token = { TRIBUTARY_ADMIN_TOKEN: 'x'.repeat(16) };
    const c = loadGatewayConfig({ ...token, TRIBUTARY_READ_RATE: '7' });
    expect(c.rates).toEqual({ ingest: { rate: 20000, burst: 40000 }, read: { rate: 7, burst: 2000 }, admin: { rate: 10, burst: 50 } });
    expect(c.opsPort).toBe(9464);
    expect(() => loadGatewayConfig({ ...token, PORT: '9000', OPS_PORT: '9000' })).toThrow('OPS_PORT must differ from PORT');
    expect(() => loadGatewayConfig({ ...token, TRIBUTARY_HEADERS_TIMEOUT_MS: '5000', TRIBUTARY_REQUEST_TIMEOUT_MS: '1000' })).toThrow('TRIBUTARY_HEADERS_TIMEOUT_MS must not exceed');
  });
});
