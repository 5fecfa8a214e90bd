import { ChildProcess, execFile, spawn } from 'child_process';
import { promisify } from 'util';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { Pool } from 'pg';
import { migrate } from '../../migrations/data-source';
import { createPool } from '../../libs/store/src/database';

/** The repository root, whether this runs from test/ (jest) or compiled into dist/ (bench). */
export const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

/** Downloads and the state of what scripts/infra.sh starts (as scripts/lib/common.sh). */
export const CACHE = process.env.TRIBUTARY_CACHE ?? path.join(ROOT, '.cache');

const execFileAsync = promisify(execFile);
const LOGS = path.join(ROOT, '.cache/test-logs');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/**
 * One isolated Tributary for a test file: its own Postgres schema, Kafka topic and consumer
 * group, a real gateway process and processor processes (so they can be killed with SIGKILL).
 */
export class Platform {
  readonly name: string;
  readonly schema: string;
  readonly topic: string;
  readonly group: string;
  readonly adminToken = `admin-${randomBytes(12).toString('hex')}`;
  url = '';
  /** The gateway's operations port (OPS_PORT): /metrics. */
  opsUrl = '';
  db!: Pool;
  private gateway?: ChildProcess;
  private readonly processors: (ChildProcess | undefined)[] = [];
  /** Apps that exited without the test asking (a crash): `stop` fails the file with them. */
  private readonly unexpectedExits: string[] = [];
  /** Children the test is stopping or killing on purpose. */
  private readonly stopping = new WeakSet<ChildProcess>();

  /** Process ids of the running apps (the bench measures their CPU). */
  pids(): { gateway: number[]; processors: number[] } {
    const alive = (c?: ChildProcess) => (c?.pid !== undefined && c.exitCode === null ? [c.pid] : []);
    return { gateway: alive(this.gateway), processors: this.processors.flatMap(alive) };
  }

  constructor(label: string, private readonly partitions = 6, private readonly overrides: Record<string, string> = {}) {
    const id = randomBytes(4).toString('hex');
    this.name = `${label}-${id}`;
    this.schema = `t_${label.replace(/[^a-z0-9]/g, '_')}_${id}`;
    this.topic = `test.${label}.${id}`;
    this.group = `test-${label}-${id}`;
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DATABASE_SCHEMA: this.schema,
      TRIBUTARY_TOPIC: this.topic,
      TRIBUTARY_GROUP: this.group,
      TRIBUTARY_TOPIC_PARTITIONS: String(this.partitions),
      TRIBUTARY_ADMIN_TOKEN: this.adminToken,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      TRIBUTARY_LAG_INTERVAL_MS: '500',
      ...this.overrides,
      ...extra,
    };
  }

  /** `gatewayNodeArgs` go to the gateway's node (the bench's --cpu-prof). */
  async start(opts: { processors?: number; gatewayNodeArgs?: string[] } = {}): Promise<this> {
    fs.mkdirSync(LOGS, { recursive: true });
    // The test's own pool: no statement limits (it drops whole schemas at the end).
    const cfg = { url: this.env().DATABASE_URL!, schema: this.schema, poolSize: 4, statementTimeoutMs: 0, idleInTransactionTimeoutMs: 0 };
    await migrate(cfg);
    this.db = createPool(cfg, 'tributary-test');
    await this.startGateway(opts.gatewayNodeArgs);
    for (let i = 0; i < (opts.processors ?? 1); i++) await this.startProcessor();
    return this;
  }

  private spawnApp(app: 'gateway' | 'processor', logName: string, extra: Record<string, string> = {}, nodeArgs: string[] = []): ChildProcess {
    const log = fs.openSync(path.join(LOGS, `${this.name}-${logName}.log`), 'a');
    const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, `dist/apps/${app}/src/main.js`)], { env: this.env(extra), stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child.once('exit', (code, signal) => {
      if (!this.stopping.has(child)) this.unexpectedExits.push(`${logName} (pid ${child.pid}) exited by itself with ${signal ?? `code ${code}`}; see .cache/test-logs/${this.name}-${logName}.log`);
    });
    return child;
  }

  /** Sends `signal` to a child the test means to stop; throws when it is not running (the test would prove nothing). */
  private signal(child: ChildProcess | undefined, what: string, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} is not running: nothing to ${signal}${child ? ` (it exited with ${child.signalCode ?? `code ${child.exitCode}`})` : ''}`);
    }
    this.stopping.add(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, sig) => r({ code, signal: sig })));
    child.kill(signal);
    return exited;
  }

  /** Resolves once processor `i` answers /health/ready with 200 (its consumer loop runs). */
  async processorReady(i: number, timeoutMs = 60000): Promise<void> {
    await waitFor(`processor ${i} ready`, async () => {
      const child = this.processors[i];
      if (!child || child.exitCode !== null) throw new Error(`processor ${i} is not running; see .cache/test-logs/${this.name}-processor-${i}.log`);
      return (await fetch(`${this.processorUrls[i]}/health/ready`)).status === 200;
    }, timeoutMs, 200);
  }

  async startGateway(nodeArgs: string[] = []): Promise<void> {
    if (this.gateway && this.gateway.exitCode === null && this.gateway.signalCode === null) throw new Error('the gateway is already running');
    const port = await freePort();
    const opsPort = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.opsUrl = `http://127.0.0.1:${opsPort}`;
    this.gateway = this.spawnApp('gateway', 'gateway', { PORT: String(port), OPS_PORT: String(opsPort), HOST: '127.0.0.1' }, nodeArgs);
    const gw = this.gateway;
    await waitFor('gateway ready', async () => {
      if (gw.exitCode !== null) throw new Error(`gateway exited with ${gw.exitCode}; see .cache/test-logs/${this.name}-gateway.log`);
      const r = await fetch(`${this.url}/health/ready`);
      return r.status === 200;
    }, 60000, 200);
  }

  /** SIGTERM to the gateway (it drains in-flight requests), then a new one on a new port. */
  async restartGateway(): Promise<void> {
    const { code } = await this.signal(this.gateway, 'the gateway', 'SIGTERM');
    if (code !== 0) throw new Error(`the gateway exited with ${code} after SIGTERM (expected 0)`);
    await this.startGateway();
  }

  readonly processorUrls: string[] = [];

  /**
   * Starts processor number `i` (a new one when omitted) with its own ops port; returns its index.
   * `nodeArgs` go to node itself (the bench's --cpu-prof, which NODE_OPTIONS does not accept).
   */
  async startProcessor(i = this.processors.length, nodeArgs: string[] = []): Promise<number> {
    const old = this.processors[i];
    if (old && old.exitCode === null && old.signalCode === null) throw new Error(`processor ${i} is already running`);
    const port = await freePort();
    this.processorUrls[i] = `http://127.0.0.1:${port}`;
    this.processors[i] = this.spawnApp('processor', `processor-${i}`, { PROCESSOR_PORT: String(port), HOST: '127.0.0.1' }, nodeArgs);
    return i;
  }

  /** kill -9: no drain, no commit, no goodbye to the group. Throws when processor `i` is not running. */
  async killProcessor(i: number): Promise<void> {
    await this.signal(this.processors[i], `processor ${i}`, 'SIGKILL');
    this.processors[i] = undefined;
  }

  async request(method: string, urlPath: string, opts: { key?: string; body?: unknown; raw?: string | Buffer; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    let body: string | Buffer | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const r = await fetch(`${this.url}${urlPath}`, { method, headers, body });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: r.status, headers: r.headers, body: parsed };
  }

  /** A tenant with one key carrying `roles`, through the operator API. */
  async tenant(id: string, roles = ['ingest', 'read']): Promise<string> {
    const t = await this.request('POST', '/v1/admin/tenants', { key: this.adminToken, body: { id } });
    if (t.status !== 201) throw new Error(`tenant ${id}: ${t.status} ${JSON.stringify(t.body)}`);
    return this.key(id, roles);
  }

  async key(tenant: string, roles: string[]): Promise<string> {
    const k = await this.request('POST', `/v1/admin/tenants/${tenant}/keys`, { key: this.adminToken, body: { roles } });
    if (k.status !== 201) throw new Error(`key for ${tenant}: ${k.status} ${JSON.stringify(k.body)}`);
    return k.body.key;
  }

  /** Runs the `tributary` CLI against this platform's schema; never throws on a non-zero exit. */
  async cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    return this.cliWith({}, ...args);
  }

  /** `cli` with extra environment variables (e.g. a newer projection version in the CLI's code). */
  async cliWith(extraEnv: Record<string, string>, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
    try {
      const r = await execFileAsync(process.execPath, [path.join(ROOT, 'bin/tributary'), ...args], { env: this.env(extraEnv), maxBuffer: 64 * 1024 * 1024 });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout, err: x.stderr };
    }
  }

  /** SIGTERM: the graceful path. Resolves with the exit code; throws when processor `i` is not running. */
  async terminateProcessor(i: number): Promise<number | null> {
    const { code } = await this.signal(this.processors[i], `processor ${i}`, 'SIGTERM');
    this.processors[i] = undefined;
    return code;
  }

  /** SIGTERM to the gateway; resolves with its exit code once it is gone. Throws when it is not running. */
  async terminateGateway(): Promise<number | null> {
    const { code } = await this.signal(this.gateway, 'the gateway', 'SIGTERM');
    this.gateway = undefined;
    return code;
  }

  /** The gateway's process id (to watch it drain). */
  gatewayPid(): number | undefined {
    return this.gateway?.exitCode === null ? this.gateway.pid : undefined;
  }

  /**
   * SIGTERM to every app still running, then the schema is dropped. Fails when an app had exited
   * by itself during the file (a crash nobody asked for) or did not exit 0 on SIGTERM.
   */
  async stop(): Promise<void> {
    const apps: [string, ChildProcess | undefined][] = [['gateway', this.gateway], ...this.processors.map((c, i): [string, ChildProcess | undefined] => [`processor ${i}`, c])];
    const running = apps.filter((a): a is [string, ChildProcess] => !!a[1] && a[1].exitCode === null && a[1].signalCode === null);
    const bad: string[] = [];
    await Promise.all(running.map(async ([what, child]) => {
      const forced = setTimeout(() => child.kill('SIGKILL'), 30000);
      const { code, signal } = await this.signal(child, what, 'SIGTERM');
      clearTimeout(forced);
      // Killed by the signal itself: it was still starting (no handler yet), so it had nothing to drain.
      if (code !== 0 && signal !== 'SIGTERM') bad.push(`${what} exited with ${signal ?? `code ${code}`} on SIGTERM`);
    }));
    await this.db?.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`).catch(() => undefined);
    await this.db?.end();
    const problems = [...this.unexpectedExits, ...bad];
    if (problems.length) throw new Error(`apps of ${this.name} did not behave:\n  ${problems.join('\n  ')}`);
  }
}
