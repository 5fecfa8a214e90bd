import * as fs from 'fs';
import * as path from 'path';
import { CACHE } from '../test/harness/platform';

/**
 * CPU time by component (Linux /proc), reported as CPU microseconds per event. Unlike a rate,
 * CPU per event barely moves when other work shares the machine, so it says where the cost is;
 * `machine` (all CPUs, busy time) shows how much else ran. Clock ticks are 1/100 s (USER_HZ).
 */
export type Pids = () => number[];

const RUN = process.env.TRIBUTARY_RUN ?? path.join(CACHE, 'run');

const read = (f: string) => {
  try {
    return fs.readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** utime + stime (ticks) and parent pid of a process, all its threads included. */
function stat(pid: number): { ticks: number; ppid: number } | null {
  const s = read(`/proc/${pid}/stat`);
  if (!s) return null;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { ticks: Number(f[11]) + Number(f[12]), ppid: Number(f[1]) };
}

const pidFile = (f: string): number[] => {
  const pid = parseInt(read(f), 10);
  return Number.isFinite(pid) ? [pid] : [];
};

/** The Postgres server infra.sh started and its backends (none when DATABASE_URL points elsewhere). */
export const postgresPids: Pids = () => {
  const [postmaster] = pidFile(path.join(RUN, 'pg/postmaster.pid'));
  if (!postmaster) return [];
  const children = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && stat(Number(d))?.ppid === postmaster);
  return [postmaster, ...children.map(Number)];
};

/** The single broker infra.sh started. */
export const kafkaPids: Pids = () => pidFile(path.join(RUN, 'kafka-c1-1/pid'));

/** Jaeger (infra.sh's build, one per machine: it may have been started from another checkout), which stores the spans. */
export const jaegerPids: Pids = () =>
  fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d) && /\/jaeger-v[\d.]+$/.test(read(`/proc/${d}/cmdline`).split('\0')[0])).map(Number);

function machineBusyTicks(): number {
  const cpu = read('/proc/stat').split('\n')[0].split(/\s+/).slice(1).map(Number);
  return cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]; // user nice system irq softirq steal
}

export class CpuMeter {
  private start = new Map<string, number>();
  private t0 = 0;

  constructor(private readonly components: Record<string, Pids>) {}

  private totals(): Map<string, number> {
    const m = new Map<string, number>();
    for (const [name, pids] of Object.entries(this.components)) m.set(name, pids().reduce((sum, pid) => sum + (stat(pid)?.ticks ?? 0), 0));
    const self = process.cpuUsage();
    m.set('bench', (self.user + self.system) / 10_000);
    m.set('machine', machineBusyTicks());
    return m;
  }

  begin(): void {
    this.start = this.totals();
    this.t0 = performance.now();
  }

  /** `cpu.<component>.usPerEvent` for the window since begin(), and the machine's busy cores. */
  end(events: number): Record<string, number> {
    if (!fs.existsSync('/proc/stat')) return {};
    const seconds = (performance.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    for (const [name, ticks] of this.totals()) {
      const used = ticks - (this.start.get(name) ?? 0);
      if (name === 'machine') out['cpu.machine.busyCores'] = Math.round((used / 100 / seconds) * 100) / 100;
      else out[`cpu.${name}.usPerEvent`] = Math.round((used * 10_000) / events);
    }
    return out;
  }
}
