import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort, ROOT, waitFor } from './platform';

/**
 * A single-node Kafka (KRaft) owned by one test, so it can be frozen (SIGSTOP), resumed or
 * killed without disturbing the shared broker. Uses the jars scripts/infra.sh caches.
 */
export class PrivateBroker {
  private proc?: ChildProcess;
  private dir = '';
  brokers = '';

  async start(): Promise<this> {
    execFileSync('bash', [path.join(ROOT, 'scripts/infra.sh'), 'jars'], { stdio: 'inherit' });
    const lib = path.join(ROOT, '.cache/kafka/lib/*');
    const [port, cport] = [await freePort(), await freePort()];
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-broker-'));
    this.brokers = `127.0.0.1:${port}`;
    const props = path.join(this.dir, 'server.properties');
    fs.writeFileSync(props, [
      'process.roles=broker,controller', 'node.id=1', `controller.quorum.voters=1@127.0.0.1:${cport}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}`, `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names=CONTROLLER', 'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${this.dir}/data`, 'offsets.topic.replication.factor=1', 'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1', 'group.initial.rebalance.delay.ms=0', 'auto.create.topics.enable=false', '',
    ].join('\n'));
    // Kafka 4 logs nothing without a log4j2 configuration; its "started" line is what we wait for.
    const log4j = path.join(this.dir, 'log4j2.properties');
    fs.writeFileSync(log4j, [
      'appender.out.type=Console', 'appender.out.name=out', 'appender.out.layout.type=PatternLayout',
      'appender.out.layout.pattern=[%d] %p %m (%c)%n', 'rootLogger.level=INFO', 'rootLogger.appenderRef.out.ref=out', '',
    ].join('\n'));
    const id = execFileSync('java', ['-cp', lib, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' }).trim().split('\n').pop()!;
    execFileSync('java', ['-cp', lib, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', props], { stdio: 'ignore' });
    const log = fs.openSync(path.join(this.dir, 'broker.log'), 'a');
    this.proc = spawn('java', ['-Xmx384m', `-Dlog4j2.configurationFile=${log4j}`, '-cp', lib, 'kafka.Kafka', props], { stdio: ['ignore', log, log] });
    await waitFor('private broker', async () => {
      const text = fs.readFileSync(path.join(this.dir, 'broker.log'), 'utf8');
      return /started \(kafka\.server\.KafkaRaftServer\)|Kafka Server started/.test(text);
    }, 90000, 250);
    return this;
  }

  /** Frozen: connections stay open but nothing answers — the hardest case for timeouts. */
  pause() { this.proc?.kill('SIGSTOP'); }
  resume() { this.proc?.kill('SIGCONT'); }

  async stop() {
    const p = this.proc;
    if (p && p.exitCode === null) {
      p.kill('SIGCONT');
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
