import { execFile, execFileSync } from 'child_process';
import { promisify } from 'util';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { ROOT } from './platform';

const execFileAsync = promisify(execFile);

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A Kafka cluster and a Postgres owned by one run (the chaos test kills and restarts them), started
 * by scripts/infra.sh itself with its own state directory and ports, so it is set up exactly as
 * users' local infrastructure is: KRaft nodes with replication factor 3 and min.insync.replicas 2.
 */
export class PrivateInfra {
  readonly run: string;
  brokers = '';
  databaseUrl = '';
  private kafkaPort = 0;
  private pgPort = 0;

  constructor(private readonly label: string, readonly brokerCount = 3) {
    this.run = path.join(ROOT, '.cache', `run-${label}`);
  }

  /** infra.sh with this run's directory and ports, and none of the caller's KAFKA_BROKERS/DATABASE_URL. */
  private env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, TRIBUTARY_RUN: this.run, TRIBUTARY_KAFKA_PORT: String(this.kafkaPort), TRIBUTARY_PG_PORT: String(this.pgPort), TRIBUTARY_KAFKA_HEAP: '512m' };
    delete env.KAFKA_BROKERS;
    delete env.DATABASE_URL;
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
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
    // Broker ports base..base+n-1 and controller ports base+100.. must all be free.
    for (let tries = 0; ; tries++) {
      const base = 20000 + Math.floor(Math.random() * 20000);
      const ports = Array.from({ length: this.brokerCount }, (_, i) => [base + i, base + 100 + i]).flat();
      if ((await Promise.all(ports.map(portFree))).every(Boolean)) {
        this.kafkaPort = base;
        break;
      }
      if (tries > 50) throw new Error('no free port range for a private Kafka cluster');
    }
    for (this.pgPort = 45000 + Math.floor(Math.random() * 5000); !(await portFree(this.pgPort)); this.pgPort++);
    fs.rmSync(this.run, { recursive: true, force: true });
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
    const [cmd, ...args] = [...asPostgres, `${bin}/pg_ctl`, '-D', path.join(this.run, 'pg'), '-m', 'immediate', '-w', 'stop'];
    await execFileAsync(cmd, args);
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
    fs.rmSync(this.run, { recursive: true, force: true });
  }
}
