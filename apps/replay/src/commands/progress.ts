/**
 * Progress on stderr (stdout stays for the result): a redrawn bar with rate and ETA on a TTY,
 * a plain line every few seconds otherwise (logs, CI), nothing with --json.
 */
export class Progress {
  private readonly started = Date.now();
  // Plain lines start after the first interval: a short run prints just its final line.
  private lastLine = this.started;
  private readonly tty = !!process.stderr.isTTY;

  constructor(private readonly label: string, private readonly enabled: boolean, private readonly unit = 'events', private readonly plainEveryMs = 2000) {}

  update(done: number, total: number | null, note = ''): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!this.tty && now - this.lastLine < this.plainEveryMs) return;
    this.lastLine = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const pct = total ? Math.min(100, (100 * done) / total) : null;
    const eta = total && rate > 0 ? formatDuration(Math.max(0, total - done) / rate) : '?';
    const count = `${done.toLocaleString('en-US')}${total !== null ? `/${total.toLocaleString('en-US')}` : ''} ${this.unit}`;
    const figures = `${count} ${Math.round(rate).toLocaleString('en-US')} ${this.unit}/s${total !== null ? ` ETA ${eta}` : ''}${note ? ` ${note}` : ''}`;
    if (this.tty) {
      const width = 24;
      const filled = pct === null ? 0 : Math.round((pct / 100) * width);
      const bar = pct === null ? '' : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct.toFixed(0).padStart(3)}% `;
      process.stderr.write(`\r\x1b[2K${this.label} ${bar}${figures}`);
    } else {
      process.stderr.write(`${this.label}: ${pct === null ? '' : `${pct.toFixed(1)}% `}${figures}\n`);
    }
  }

  /** Ends the bar's line on a TTY; prints the final figures as a plain line otherwise. */
  done(done: number, total: number | null, note = ''): void {
    if (!this.enabled) return;
    this.lastLine = 0;
    this.update(done, total, note);
    if (this.tty) process.stderr.write('\n');
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
