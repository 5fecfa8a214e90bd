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
  /** Postgres cancels any statement running longer (0 = no limit): a stuck query frees its connection. */
  statementTimeoutMs: number;
  /** Postgres ends a session idle inside a transaction this long (0 = no limit): a stalled holder frees its locks and connection. */
  idleInTransactionTimeoutMs: number;
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

// Longest statements the apps run: the gateway's reads (a page of at most 1,000 rows), the
// processor's batch statements (COPY / unnest of one batch, 2,000 events by default) — both far
// below 30 s. The CLI has no statement limit by default: rebuild counts the whole store
// (`plan`, the cut), waits for LOCK TABLE events behind the processors' batches and folds the
// catch-up inside the swap transaction, all of which grow with the store.
const STATEMENT_TIMEOUT_MS = 30_000;
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;

function database(r: Reader, poolDefault: number, statementTimeoutDefault = STATEMENT_TIMEOUT_MS): DatabaseConfig {
  return {
    url: r.string('DATABASE_URL', 'postgres://tributary@127.0.0.1:15432/tributary'),
    schema: r.identifier('DATABASE_SCHEMA', 'public'),
    poolSize: r.int('DATABASE_POOL_SIZE', poolDefault, 1, 500),
    statementTimeoutMs: r.int('DATABASE_STATEMENT_TIMEOUT_MS', statementTimeoutDefault, 0, 86_400_000),
    idleInTransactionTimeoutMs: r.int('DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS', IDLE_IN_TRANSACTION_TIMEOUT_MS, 0, 86_400_000),
  };
}

/**
 * The role the gateway acts as on its tenant connections (DATABASE_GATEWAY_ROLE): not the tables'
 * owner, so row-level security holds it to the tenant of each transaction (docs/decisions/0009).
 */
export const DEFAULT_GATEWAY_ROLE = 'tributary_gateway';

function gatewayRole(r: Reader): string {
  return r.identifier('DATABASE_GATEWAY_ROLE', DEFAULT_GATEWAY_ROLE);
}

/** A per-tenant token bucket: requests (or events) per second and the burst. */
export interface RateConfig {
  rate: number;
  burst: number;
}

function rate(r: Reader, prefix: string, rateDefault: number, burstDefault: number): RateConfig {
  return { rate: r.int(`${prefix}_RATE`, rateDefault, 1, 10_000_000), burst: r.int(`${prefix}_BURST`, burstDefault, 1, 10_000_000) };
}

export interface GatewayConfig {
  port: number;
  host: string;
  /** The operations port: /metrics (not served on `port`, which faces tenants). */
  opsPort: number;
  adminToken: string;
  kafka: KafkaConfig;
  db: DatabaseConfig;
  /** The role the tenant and key pools act as (row-level security); the operator routes' pool stays the login user. */
  gatewayRole: string;
  /** Connections of the API-key lookups' own pool: authentication answers while `db`'s pool is busy. */
  keyPoolSize: number;
  /** Valid keys remembered (least recently used forgotten first); unknown keys have a cache of their own of this size. */
  keyCacheSize: number;
  /** How long a key lookup is trusted; a revoked key stops working within this time. */
  keyCacheMs: number;
  /** Longest wait for a request's headers, and for the whole request (headers and body); then 408 and the socket is closed. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** How long a produce may wait for the broker's ack before the request answers 503. */
  produceTimeoutMs: number;
  /** Most event bytes waiting for Kafka's ack in this gateway; beyond it requests answer 503 at once. */
  producerBufferMb: number;
  /** Per-tenant rates, per gateway instance: ingest in events/s, reads and admin actions (schema writes, dead-letter retry/discard) in requests/s. */
  rates: { ingest: RateConfig; read: RateConfig; admin: RateConfig };
  /** Longest graceful shutdown before the process exits anyway. */
  shutdownTimeoutMs: number;
}

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const r = new Reader(env);
  const adminToken = r.string('TRIBUTARY_ADMIN_TOKEN');
  if (adminToken && adminToken.length < 16) r.problems.push('TRIBUTARY_ADMIN_TOKEN must be at least 16 characters');
  const port = r.int('PORT', 8080, 0, 65535);
  const opsPort = r.int('OPS_PORT', 9464, 0, 65535);
  if (opsPort === port && port !== 0) r.problems.push(`OPS_PORT must differ from PORT (both ${port})`);
  const headersTimeoutMs = r.int('TRIBUTARY_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000);
  const requestTimeoutMs = r.int('TRIBUTARY_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000);
  // Node refuses a headers timeout longer than the request timeout.
  if (headersTimeoutMs > requestTimeoutMs) r.problems.push('TRIBUTARY_HEADERS_TIMEOUT_MS must not exceed TRIBUTARY_REQUEST_TIMEOUT_MS');
  return r.done({
    port,
    host: r.string('HOST', '0.0.0.0'),
    opsPort,
    adminToken,
    kafka: kafka(r, 'tributary-gateway'),
    db: database(r, 10),
    gatewayRole: gatewayRole(r),
    keyPoolSize: r.int('DATABASE_KEY_POOL_SIZE', 2, 1, 50),
    keyCacheSize: r.int('TRIBUTARY_KEY_CACHE_SIZE', 10_000, 1, 10_000_000),
    keyCacheMs: r.int('TRIBUTARY_KEY_CACHE_MS', 2000, 0, 3_600_000),
    headersTimeoutMs,
    requestTimeoutMs,
    produceTimeoutMs: r.int('TRIBUTARY_PRODUCE_TIMEOUT_MS', 4000, 100, 120000),
    producerBufferMb: r.int('TRIBUTARY_PRODUCER_BUFFER_MB', 64, 1, 2048),
    rates: {
      ingest: { rate: r.int('TRIBUTARY_TENANT_RATE', 20000, 1, 10_000_000), burst: r.int('TRIBUTARY_TENANT_BURST', 40000, 1, 10_000_000) },
      read: rate(r, 'TRIBUTARY_READ', 500, 2000),
      admin: rate(r, 'TRIBUTARY_ADMIN', 10, 50),
    },
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
  /** The gateway's role, which `npm run migrate` creates when absent and grants its privileges. */
  gatewayRole: string;
}

export function loadReplayConfig(env: Env = process.env): ReplayConfig {
  const r = new Reader(env);
  return r.done({ db: database(r, 2, 0), kafka: kafka(r, 'tributary-replay'), groupId: r.string('TRIBUTARY_GROUP', 'tributary-processor'), gatewayRole: gatewayRole(r) });
}
