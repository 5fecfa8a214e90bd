/**
 * One typed, validated configuration per app, read from the environment once at startup.
 * Invalid values fail fast with the variable's name; secret values are never echoed.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  string(name: string, fallback?: string): string {
    const v = this.env[name];
    if (v !== undefined && v !== '') return v;
    if (fallback === undefined) {
      this.problems.push(`${name} is required`);
      return '';
    }
    return fallback;
  }

  optional(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got '${raw}')`);
      return fallback;
    }
    return n;
  }

  identifier(name: string, fallback: string): string {
    const v = this.string(name, fallback);
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(v)) this.problems.push(`${name} must be a lowercase SQL identifier (got '${v}')`);
    return v;
  }

  done<T>(value: T): T {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
    return value;
  }
}

export interface KafkaConfig {
  brokers: string;
  topic: string;
  deadLetterTopic: string;
  topicPartitions: number;
  replicationFactor: number;
  clientId: string;
}

export interface DatabaseConfig {
  url: string;
  schema: string;
  poolSize: number;
}

function kafka(r: Reader, clientId: string): KafkaConfig {
  const topic = r.string('TRIBUTARY_TOPIC', 'tributary.events');
  return {
    brokers: r.string('KAFKA_BROKERS', '127.0.0.1:19092'),
    topic,
    deadLetterTopic: r.string('TRIBUTARY_DLQ_TOPIC', `${topic}.dlq`),
    topicPartitions: r.int('TRIBUTARY_TOPIC_PARTITIONS', 12, 1, 10000),
    replicationFactor: r.int('TRIBUTARY_REPLICATION_FACTOR', 0, 0, 5),
    clientId,
  };
}

function database(r: Reader, poolDefault: number): DatabaseConfig {
  return {
    url: r.string('DATABASE_URL', 'postgres://tributary@127.0.0.1:15432/tributary'),
    schema: r.identifier('DATABASE_SCHEMA', 'public'),
    poolSize: r.int('DATABASE_POOL_SIZE', poolDefault, 1, 500),
  };
}

export interface GatewayConfig {
  port: number;
  host: string;
  adminToken: string;
  kafka: KafkaConfig;
  db: DatabaseConfig;
  /** How long a produce may wait for the broker's ack before the request answers 503. */
  produceTimeoutMs: number;
  /** Most event bytes waiting for Kafka's ack in this gateway; beyond it requests answer 503 at once. */
  producerBufferMb: number;
  /** Per-tenant ingest rate (events/s) and burst, per gateway instance. */
  tenantRate: number;
  tenantBurst: number;
  /** Longest graceful shutdown before the process exits anyway. */
  shutdownTimeoutMs: number;
}

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const r = new Reader(env);
  const adminToken = r.string('TRIBUTARY_ADMIN_TOKEN');
  if (adminToken && adminToken.length < 16) r.problems.push('TRIBUTARY_ADMIN_TOKEN must be at least 16 characters');
  return r.done({
    port: r.int('PORT', 8080, 0, 65535),
    host: r.string('HOST', '0.0.0.0'),
    adminToken,
    kafka: kafka(r, 'tributary-gateway'),
    db: database(r, 10),
    produceTimeoutMs: r.int('TRIBUTARY_PRODUCE_TIMEOUT_MS', 4000, 100, 120000),
    producerBufferMb: r.int('TRIBUTARY_PRODUCER_BUFFER_MB', 64, 1, 2048),
    tenantRate: r.int('TRIBUTARY_TENANT_RATE', 20000, 1, 10_000_000),
    tenantBurst: r.int('TRIBUTARY_TENANT_BURST', 40000, 1, 10_000_000),
    shutdownTimeoutMs: r.int('TRIBUTARY_SHUTDOWN_TIMEOUT_MS', 25000, 1000, 600000),
  });
}

export interface ProcessorConfig {
  kafka: KafkaConfig;
  db: DatabaseConfig;
  groupId: string;
  batchSize: number;
  partitionsConcurrently: number;
  /** How long the group waits for a silent (crashed) processor before moving its partitions. */
  sessionTimeoutMs: number;
  /** A batch still unapplied after this long (retrying) makes the processor not ready. */
  stuckAfterMs: number;
  shutdownTimeoutMs: number;
  /** How often consumer lag (end offset − Postgres checkpoint) is measured for /metrics. */
  lagIntervalMs: number;
  port: number;
  host: string;
}

export function loadProcessorConfig(env: Env = process.env): ProcessorConfig {
  const r = new Reader(env);
  const partitionsConcurrently = r.int('TRIBUTARY_PARTITIONS_CONCURRENTLY', 4, 1, 64);
  return r.done({
    kafka: kafka(r, 'tributary-processor'),
    db: database(r, partitionsConcurrently + 2),
    groupId: r.string('TRIBUTARY_GROUP', 'tributary-processor'),
    batchSize: r.int('TRIBUTARY_BATCH_SIZE', 2000, 1, 100000),
    partitionsConcurrently,
    sessionTimeoutMs: r.int('TRIBUTARY_SESSION_TIMEOUT_MS', 10000, 6000, 300000),
    stuckAfterMs: r.int('TRIBUTARY_STUCK_AFTER_MS', 30000, 1000, 3600000),
    shutdownTimeoutMs: r.int('TRIBUTARY_SHUTDOWN_TIMEOUT_MS', 25000, 1000, 600000),
    lagIntervalMs: r.int('TRIBUTARY_LAG_INTERVAL_MS', 10000, 200, 600000),
    port: r.int('PROCESSOR_PORT', 8081, 0, 65535),
    host: r.string('HOST', '0.0.0.0'),
  });
}

export interface ReplayConfig {
  db: DatabaseConfig;
  /** backfill produces here; reset moves this topic's offsets; rebuild --source kafka reads it. */
  kafka: KafkaConfig;
  /** The live processors' group (rebuild --source kafka reads up to its checkpoints). */
  groupId: string;
}

export function loadReplayConfig(env: Env = process.env): ReplayConfig {
  const r = new Reader(env);
  return r.done({ db: database(r, 2), kafka: kafka(r, 'tributary-replay'), groupId: r.string('TRIBUTARY_GROUP', 'tributary-processor') });
}
