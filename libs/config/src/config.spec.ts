import { ConfigError, loadGatewayConfig, loadProcessorConfig } from './config';

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
});
