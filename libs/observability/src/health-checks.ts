import { Get, OnModuleDestroy } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorFunction, HealthIndicatorService } from '@nestjs/terminus';
import type { Pool, QueryConfig } from 'pg';
import type { KafkaConfig } from '@tributary/config/config';
import { createKafka, Kafka } from '@tributary/kafka/kafka-client';

/**
 * Longest a readiness probe waits for one dependency check. Below the probes' timeoutSeconds (3 s
 * in k8s/): a probe answers "down" in time rather than timing out. Checks run concurrently, so a
 * probe answers within about this budget whatever hangs.
 */
export const CHECK_BUDGET_MS = 2000;

/** A check still unsettled this long after it started is dropped, so a hung client cannot keep readiness down. */
const ABANDON_AFTER_MS = 5 * CHECK_BUDGET_MS;

/** Settles as `p` does, or rejects after `ms`; its timer never outlives it. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * One dependency check shared by every concurrent probe.
 * Invariants: at most one run is in flight (a probe arriving meanwhile waits on that run instead
 * of starting another, so a slow dependency never piles up queries or connections); each probe
 * waits at most `budgetMs`; a run older than ABANDON_AFTER_MS is dropped with `abandon()` (which
 * throws its client away) so that the next probe checks afresh.
 */
export class SharedCheck {
  private flight?: { done: Promise<void>; startedAt: number };

  constructor(private readonly run: () => Promise<void>, private readonly budgetMs = CHECK_BUDGET_MS, private readonly abandon: () => void = () => undefined) {}

  check(): Promise<void> {
    if (this.flight && Date.now() - this.flight.startedAt > ABANDON_AFTER_MS) {
      this.abandon();
      this.flight = undefined;
    }
    if (!this.flight) {
      const done: Promise<void> = this.run().finally(() => {
        if (this.flight?.done === done) this.flight = undefined;
      });
      // Probes that gave up on it no longer listen: its failure is theirs to report, not unhandled.
      done.catch(() => undefined);
      this.flight = { done, startedAt: Date.now() };
    }
    return within(this.flight.done, this.budgetMs);
  }
}

type Admin = ReturnType<Kafka['admin']>;

/**
 * Kafka answers when the events topic's metadata comes back.
 * A @confluentinc/kafka-javascript admin client connects once in its life: a second connect()
 * throws "Connect has already been called elsewhere." even after disconnect() (its maintainers:
 * make a new instance, confluent-kafka-javascript#167). So after any failed check the client is
 * disconnected (its sockets and threads released) and the next check makes a new one, which
 * bootstraps at once rather than waiting out the old one's reconnect backoff (up to
 * reconnect.backoff.max.ms, 10 s in librdkafka). A healthy client is kept across checks.
 */
export class KafkaTopicCheck {
  private current?: { admin: Admin; connected: Promise<void> };

  constructor(private readonly kafka: KafkaConfig) {}

  async run(timeoutMs: number): Promise<void> {
    const c = this.current ?? this.fresh();
    try {
      await c.connected;
      await c.admin.fetchTopicMetadata({ topics: [this.kafka.topic], timeout: timeoutMs } as Parameters<Admin['fetchTopicMetadata']>[0]);
    } catch (e) {
      this.discard(c);
      throw e;
    }
  }

  /** Drops the client in use (failed or hung); the next check makes a new one. */
  discard(c = this.current): void {
    if (!c) return;
    if (this.current === c) this.current = undefined;
    // Nothing waits on the disconnect; a client that never connected has nothing to release.
    c.connected.then(() => c.admin.disconnect(), () => undefined).catch(() => undefined);
  }

  private fresh() {
    const admin = createKafka(this.kafka).admin();
    this.current = { admin, connected: admin.connect() };
    return this.current;
  }
}

/** Readiness checks shared by the apps: Postgres and the events topic, each within CHECK_BUDGET_MS. */
export class DependencyChecks {
  private readonly kafkaTopicCheck: KafkaTopicCheck;
  private readonly pg: SharedCheck;
  private readonly kafkaShared: SharedCheck;

  constructor(private readonly indicator: HealthIndicatorService, pool: Pool, kafka: KafkaConfig) {
    // The app's own pool: ready means the app can get a connection and a query through. A query
    // past the budget is cancelled by pg (query_timeout), which also discards its connection.
    this.pg = new SharedCheck(async () => {
      await pool.query({ text: 'SELECT 1', query_timeout: CHECK_BUDGET_MS } as QueryConfig);
    });
    this.kafkaTopicCheck = new KafkaTopicCheck(kafka);
    this.kafkaShared = new SharedCheck(() => this.kafkaTopicCheck.run(CHECK_BUDGET_MS), CHECK_BUDGET_MS, () => this.kafkaTopicCheck.discard());
  }

  postgres() {
    return this.report('postgres', this.pg);
  }

  kafkaTopic() {
    return this.report('kafka', this.kafkaShared);
  }

  private async report(name: string, check: SharedCheck) {
    const s = this.indicator.check(name);
    try {
      await check.check();
      return s.up();
    } catch (e) {
      return s.down({ message: (e as Error).message });
    }
  }

  close() {
    this.kafkaTopicCheck.discard();
  }
}

/**
 * `/health/live` and `/health/ready` for every app: ready when Postgres and Kafka answer, plus the
 * app's own checks. Live answers from the process alone: a dependency outage makes an app not
 * ready (out of its Service), never not live (a restart would not bring the dependency back).
 * Subclasses carry `@Controller('health')` and pass their dependencies in.
 */
export abstract class HealthEndpoints implements OnModuleDestroy {
  protected readonly checks: DependencyChecks;

  protected constructor(private readonly health: HealthCheckService, protected readonly indicator: HealthIndicatorService, pool: Pool, kafka: KafkaConfig) {
    this.checks = new DependencyChecks(indicator, pool, kafka);
  }

  /** The app's checks beyond Postgres and Kafka. */
  protected extraChecks(): HealthIndicatorFunction[] {
    return [];
  }

  @Get('live')
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.checks.postgres(), () => this.checks.kafkaTopic(), ...this.extraChecks()]);
  }

  onModuleDestroy() {
    this.checks.close();
  }
}
