import { execFile, execFileSync } from 'child_process';
import { promisify } from 'util';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Client } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { CACHE, ROOT } from './harness/platform';

const execFileAsync = promisify(execFile);

/**
 * The local infrastructure from a fresh clone in a directory only its owner can enter, as a
 * root's home directory is (mode 0700 on Debian), beside the checkout running this suite.
 *
 * As root, infra.sh runs Postgres as the postgres user, who cannot traverse that directory: the
 * clone must still come up. As any other user everything runs as that user, who owns the
 * directory, so the same assertions hold; nothing here depends on being root (the clone, its run
 * dir and the processes belong to whoever runs the suite).
 */

// The variables that would point the clone at this suite's infrastructure or state.
const INHERITED = ['KAFKA_BROKERS', 'DATABASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'JAEGER_QUERY_URL', 'TRIBUTARY_RUN', 'TRIBUTARY_CACHE', 'TRIBUTARY_KAFKA_PORT', 'TRIBUTARY_PG_PORT'];

// git refuses a repository owned by another user ("dubious ownership") unless told.
const git = (...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { encoding: 'utf8' });

const portOf = (hostPort: string) => Number(new URL(hostPort.includes('://') ? hostPort : `tcp://${hostPort}`).port);

/** Alive, not a zombie waiting for a parent that does not reap it. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });

describe('the local infrastructure from a clone in a 0700 directory', () => {
  let home = '';
  let checkout = '';
  let env: NodeJS.ProcessEnv = {};

  const infra = async (...args: string[]) =>
    (await execFileAsync('npm', ['run', '--silent', ...args], { cwd: checkout, env, maxBuffer: 1 << 24 })).stdout;

  beforeAll(() => {
    // The clone must use the Kafka jars and the Jaeger binary the suite already has.
    execFileSync('bash', [path.join(ROOT, 'scripts/infra.sh'), 'jars'], { stdio: 'inherit' });
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-home-'));
    fs.chmodSync(home, 0o700);
    checkout = path.join(home, 'tributary');
    git('clone', '--quiet', ROOT, checkout);
    // The clone is of HEAD; what the working tree changed is what is being tested.
    for (const f of git('-C', ROOT, 'diff', '--name-only', 'HEAD').split('\n').filter(Boolean)) {
      const from = path.join(ROOT, f);
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(checkout, f));
      else fs.rmSync(path.join(checkout, f), { force: true });
    }
    fs.chmodSync(checkout, 0o700);
    fs.mkdirSync(path.join(checkout, '.cache'));
    fs.symlinkSync(path.join(CACHE, 'kafka'), path.join(checkout, '.cache/kafka'));
    fs.mkdirSync(path.join(CACHE, 'bin'), { recursive: true });
    fs.symlinkSync(path.join(CACHE, 'bin'), path.join(checkout, '.cache/bin'));
    env = { ...process.env, TRIBUTARY_KAFKA_HEAP: '384m' };
    for (const name of INHERITED) delete env[name];
  });

  afterAll(async () => {
    if (checkout) await infra('infra:down').catch(() => undefined);
    if (checkout) await execFileAsync('bash', ['scripts/infra.sh', 'clean'], { cwd: checkout, env }).catch(() => undefined);
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  // Long only when the Jaeger binary is not built yet (global setup builds it unless
  // OTEL_EXPORTER_OTLP_ENDPOINT was given): then `up` builds it, a few minutes.
  it('comes up on ports of its own, answers on the printed addresses, and infra:down stops every process', async () => {
    const out = await infra('infra:up', '--', '--with-jaeger');
    const printed = Object.fromEntries([...out.matchAll(/^export ([A-Z_]+)=(.+)$/gm)].map((m) => [m[1], m[2]]));
    expect(Object.keys(printed).sort()).toEqual(['DATABASE_URL', 'JAEGER_QUERY_URL', 'KAFKA_BROKERS', 'OTEL_EXPORTER_OTLP_ENDPOINT']);

    // Postgres answers, on the printed port, from the data directory run/pg leads to (as root
    // outside the 0700 directory), which is where down, status, clean and the harness look.
    const db = new Client({ connectionString: printed.DATABASE_URL });
    await db.connect();
    const { rows } = await db.query("SELECT current_setting('port') AS port, current_setting('data_directory') AS dir, 40 + 2 AS answer");
    await db.end();
    expect(rows[0]).toEqual({ port: String(portOf(printed.DATABASE_URL)), dir: fs.realpathSync(path.join(checkout, '.cache/run/pg')), answer: 42 });

    // Kafka answers metadata on the printed address, advertising that address.
    const admin = new Kafka({ brokers: printed.KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.disconnect();
    expect(cluster.brokers.map((b) => `${b.host}:${b.port}`)).toEqual([printed.KAFKA_BROKERS]);

    // Jaeger takes OTLP and serves its query API on the printed ones.
    const otlp = await fetch(`${printed.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans":[]}' });
    expect(otlp.status).toBe(200);
    const services = await fetch(`${printed.JAEGER_QUERY_URL}/api/services`);
    expect(services.status).toBe(200);

    // None of them is this suite's own (set by global setup or given).
    const ours = [printed.KAFKA_BROKERS, printed.DATABASE_URL, printed.OTEL_EXPORTER_OTLP_ENDPOINT, printed.JAEGER_QUERY_URL].map(portOf);
    const suites = [process.env.KAFKA_BROKERS!.split(',')[0], process.env.DATABASE_URL!, process.env.OTEL_EXPORTER_OTLP_ENDPOINT, process.env.JAEGER_QUERY_URL ?? 'http://127.0.0.1:16686']
      .filter((x): x is string => !!x).map(portOf);
    for (const p of ours) expect(suites).not.toContain(p);

    // status (a new process, reading what up recorded) agrees with what up printed.
    const status = await infra('infra:status');
    expect(status).toContain(`kafka-1: up (${printed.KAFKA_BROKERS})`);
    expect(status).toContain(`postgres: up (127.0.0.1:${portOf(printed.DATABASE_URL)}`);
    expect(status).toContain(`jaeger: up (OTLP ${printed.OTEL_EXPORTER_OTLP_ENDPOINT}, query ${printed.JAEGER_QUERY_URL})`);

    const run = path.join(checkout, '.cache/run');
    const pids = ['kafka-c1-1/pid', 'pg/postmaster.pid', 'jaeger/pid'].map((f) => Number(fs.readFileSync(path.join(run, f), 'utf8').split('\n')[0]));
    for (const pid of pids) expect(alive(pid)).toBe(true);

    await infra('infra:down');
    // down returns once they have exited: no process left, no port answering.
    expect(pids.filter(alive)).toEqual([]);
    for (const p of ours) expect(await accepts(p)).toBe(false);
    expect(await infra('infra:status')).toMatch(/kafka: not started\npostgres: down\njaeger: down/);

    // clean removes the state, the data directory outside the checkout included.
    const dataDir = fs.realpathSync(path.join(run, 'pg'));
    await execFileAsync('bash', ['scripts/infra.sh', 'clean'], { cwd: checkout, env });
    expect([fs.existsSync(dataDir), fs.existsSync(run)]).toEqual([false, false]);
  }, 15 * 60_000);
});
