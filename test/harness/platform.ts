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
    return spawn(process.execPath, [...nodeArgs, path.join(ROOT, `dist/apps/${app}/src/main.js`)], { env: this.env(extra), stdio: ['ignore', log, log] });
  }

  async startGateway(nodeArgs: string[] = []): Promise<void> {
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
    const gw = this.gateway;
    if (gw && gw.exitCode === null) {
      const exited = new Promise((r) => gw.once('exit', r));
      gw.kill('SIGTERM');
      await exited;
    }
    await this.startGateway();
  }

  readonly processorUrls: string[] = [];

  /**
   * Starts processor number `i` (a new one when omitted) with its own ops port; returns its index.
   * `nodeArgs` go to node itself (the bench's --cpu-prof, which NODE_OPTIONS does not accept).
   */
  async startProcessor(i = this.processors.length, nodeArgs: string[] = []): Promise<number> {
    const port = await freePort();
    this.processorUrls[i] = `http://127.0.0.1:${port}`;
    this.processors[i] = this.spawnApp('processor', `processor-${i}`, { PROCESSOR_PORT: String(port), HOST: '127.0.0.1' }, nodeArgs);
    return i;
  }

  /** kill -9: no drain, no commit, no goodbye to the group. */
  async killProcessor(i: number): Promise<void> {
    const p = this.processors[i];
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
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

  /** SIGTERM: the graceful path. Resolves with the exit code. */
  async terminateProcessor(i: number): Promise<number | null> {
    const p = this.processors[i];
    if (!p || p.exitCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    const code = await exited;
    this.processors[i] = undefined;
    return code;
  }

  async stop(): Promise<void> {
    const all = [this.gateway, ...this.processors].filter((p): p is ChildProcess => !!p && p.exitCode === null);
    await Promise.all(all.map((p) => new Promise((r) => { p.once('exit', r); p.kill('SIGTERM'); setTimeout(() => p.kill('SIGKILL'), 10000).unref(); })));
    await this.db?.query(`DROP SCHEMA IF EXISTS "${this.schema}" CASCADE`).catch(() => undefined);
    await this.db?.end();
  }
}
