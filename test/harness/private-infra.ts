import { execFile, execFileSync } from 'child_process';
import { promisify } from 'util';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT } from './platform';

const execFileAsync = promisify(execFile);

/**
 * A Kafka cluster and a Postgres owned by one run (the chaos test kills and restarts them), started
 * by scripts/infra.sh itself with its own state directory, so it is set up exactly as users' local
 * infrastructure is: KRaft nodes with replication factor 3 and min.insync.replicas 2. infra.sh
 * chooses the ports for that directory (free ones, kept while anything of it runs).
 */
export class PrivateInfra {
  readonly run: string;
  brokers = '';
  databaseUrl = '';

  constructor(private readonly label: string, readonly brokerCount = 3) {
    this.run = path.join(ROOT, '.cache', `run-${label}`);
  }

  /** infra.sh with this run's directory, and none of the caller's infrastructure or port settings. */
  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, TRIBUTARY_RUN: this.run, TRIBUTARY_KAFKA_HEAP: '512m' };
    for (const name of ['KAFKA_BROKERS', 'DATABASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'JAEGER_QUERY_URL', 'TRIBUTARY_KAFKA_PORT', 'TRIBUTARY_PG_PORT']) delete env[name];
    return env;
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** One infra.sh at a time: two concurrent `up`s would both start a stopped Postgres. */
  private infra(...args: string[]): Promise<string> {
    const run = this.queue.then(async () => (await execFileAsync('bash', [path.join(ROOT, 'scripts/infra.sh'), ...args], { env: this.env(), maxBuffer: 1 << 24 })).stdout);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async start(): Promise<this> {
    await this.infra('clean'); // what an earlier run of this label left
    const out = await this.infra('up', '--brokers', String(this.brokerCount));
    this.brokers = /^export KAFKA_BROKERS=(.+)$/m.exec(out)![1];
    this.databaseUrl = /^export DATABASE_URL=(.+)$/m.exec(out)![1];
    return this;
  }

  private pidOf(broker: number): number {
    return Number(fs.readFileSync(path.join(this.run, `kafka-c${this.brokerCount}-${broker}`, 'pid'), 'utf8'));
  }

  /** kill -9 of broker `i` (1-based): no controlled shutdown, its partitions lose their leader. */
  killBroker(i: number): void {
    process.kill(this.pidOf(i), 'SIGKILL');
  }

  /** Starts whatever is not running (the killed broker, a stopped Postgres) and waits until it serves. */
  async heal(): Promise<void> {
    await this.infra('up', '--brokers', String(this.brokerCount));
  }

  /** SIGSTOP / SIGCONT of broker `i`: its connections stay open but nothing answers (the hardest case for timeouts). */
  freezeBroker(i: number): void {
    process.kill(this.pidOf(i), 'SIGSTOP');
  }

  thawBroker(i: number): void {
    process.kill(this.pidOf(i), 'SIGCONT');
  }

  /** Postgres crash: an immediate stop (no checkpoint, clients cut off); `heal` starts it again (crash recovery). */
  async stopPostgres(): Promise<void> {
    const bin = execFileSync('bash', ['-c', `source ${path.join(ROOT, 'scripts/lib/common.sh')}; pg_bindir`], { encoding: 'utf8' }).trim();
    const asPostgres = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
    // As root the data directory is outside the checkout and run/pg links to it (scripts/infra.sh,
    // pg_dir): postgres gets the real path, and cwd /, since it may not traverse the checkout's path.
    const [cmd, ...args] = [...asPostgres, `${bin}/pg_ctl`, '-D', fs.realpathSync(path.join(this.run, 'pg')), '-m', 'immediate', '-w', 'stop'];
    await execFileAsync(cmd, args, { cwd: '/' });
  }

  /** Postgres crash and restart. */
  async restartPostgres(): Promise<void> {
    await this.stopPostgres();
    await this.heal();
  }

  async stop(): Promise<void> {
    await this.infra('down').catch(() => undefined);
    // Keep the servers' logs with the apps' (.cache/test-logs) for a post-mortem.
    const logs = path.join(ROOT, '.cache/test-logs');
    fs.mkdirSync(logs, { recursive: true });
    for (const dir of fs.existsSync(this.run) ? fs.readdirSync(this.run) : []) {
      for (const f of ['server.log', 'stdout.log']) {
        const from = path.join(this.run, dir, f);
        if (fs.existsSync(from)) fs.copyFileSync(from, path.join(logs, `${this.label}-${dir}-${f}`));
      }
    }
    await this.infra('clean').catch(() => undefined);
  }
}
