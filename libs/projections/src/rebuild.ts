import type { Pool, PoolClient } from 'pg';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { inTransaction, Queryable } from '@tributary/store/database';
import { ProjectionStateRepository, ProjectionStateRow } from './projection-state.repository';
import { applyProjection, ProjectedEvent, Projection } from './projection';

export interface RebuildScope {
  tenant?: string;
  /** Inclusive, aligned to the projection's time unit. */
  from?: string;
  /** Exclusive, aligned to the projection's time unit. */
  to?: string;
}

export interface RebuildProgress {
  phase: 'scan' | 'swap' | 'done';
  folded: number;
  total: number;
}

export interface RebuildResult {
  projection: string;
  version: number;
  scope: RebuildScope;
  /** Events already folded by an earlier, interrupted run of the same rebuild (0 for a fresh one). */
  resumedFrom: number;
  folded: number;
  /** Events folded in the final, locked transaction (arrived during the rebuild). */
  caughtUpInSwap: number;
  seconds: number;
  eventsPerSecond: number;
}

/** Most events the swap transaction folds while processor batches wait for it. */
const SWAP_AT_MOST = 2000;

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Rebuilds one projection into a shadow table from the event store, with the projection's own
 * code, then swaps it in. See docs/decisions/0004-projection-rebuild.md.
 *
 * Invariants:
 *  - the shadow table and the rebuild's checkpoint (projection_state.scanned_to) commit together,
 *    so a killed rebuild resumes exactly where its last batch committed;
 *  - the scan only reads events numbered (applied_seq) at or below a cut taken while no writer of
 *    `events` was in flight, so nothing below the cut can still appear later;
 *  - the swap transaction holds a SHARE lock on `events`: every processor batch and dead-letter
 *    retry writes `events` before the projection, so none commits in between; it folds what was
 *    numbered after the scan, then replaces the live table (by rename, so writers keep its name).
 */
export class ProjectionRebuild {
  private readonly state: ProjectionStateRepository;

  constructor(
    private readonly pool: Pool,
    private readonly projection: Projection<any>,
    private readonly scope: RebuildScope,
    private readonly opts: { batchSize: number; restart?: boolean; onProgress?: (p: RebuildProgress) => void },
  ) {
    this.state = new ProjectionStateRepository(pool);
  }

  private get scoped(): boolean {
    return !!(this.scope.tenant || this.scope.from || this.scope.to);
  }

  private get shadow(): string {
    return `${this.projection.table}__rebuild`;
  }

  /** What run() would do, without writing: for --dry-run. */
  async plan(): Promise<{ projection: string; liveVersion: number; targetVersion: number; resume: boolean; resumeAt: number; events: number }> {
    const s = await this.state.ensure(this.projection);
    this.check(s);
    const resume = this.resumable(s);
    const filter = this.filter(resume ? BigInt(s.scanned_to) : 0n);
    const events = Number((await this.pool.query(`SELECT count(*) AS n FROM events WHERE ${filter.sql}`, filter.params)).rows[0].n);
    return { projection: this.projection.name, liveVersion: s.live_version, targetVersion: this.projection.version, resume, resumeAt: resume ? Number(s.folded) : 0, events };
  }

  async run(): Promise<RebuildResult> {
    const started = Date.now();
    let s = await this.state.ensure(this.projection);
    this.check(s);
    const resumedFrom = this.resumable(s) ? Number(s.folded) : 0;
    if (!this.resumable(s)) s = await this.begin();
    let folded = Number(s.folded);
    let total = Number(s.total);
    let scannedTo = BigInt(s.scanned_to);
    let cut = BigInt(s.cut);
    const report = (phase: RebuildProgress['phase']) => this.opts.onProgress?.({ phase, folded, total });
    report('scan');

    for (;;) {
      // Batches up to the cut, each committed with the checkpoint.
      while (scannedTo < cut) {
        const r = await inTransaction(this.pool, async (tx) => {
          const n = await this.foldBatch(tx, scannedTo, cut);
          await this.state.advance(tx, this.projection.name, n.scannedTo, n.count);
          return n;
        });
        scannedTo = r.scannedTo;
        folded += r.count;
        report('scan');
      }
      // Events numbered since the cut (arrived during the scan): another round, or the swap.
      // Few enough to fold while holding the lock that stalls processing: swap.
      const pending = await this.count(cut, null);
      if (pending <= Math.min(this.opts.batchSize, SWAP_AT_MOST)) break;
      const next = await this.takeCut();
      total += await this.count(cut, next);
      cut = next;
      await this.state.extend(this.pool, this.projection.name, cut, total);
    }

    report('swap');
    const caughtUpInSwap = await inTransaction(this.pool, async (tx) => {
      await tx.query(`LOCK TABLE events IN SHARE MODE`);
      let caught = 0;
      for (;;) {
        const r = await this.foldBatch(tx, scannedTo, null);
        caught += r.count;
        scannedTo = r.scannedTo;
        if (r.count < this.opts.batchSize) break;
      }
      await this.swap(tx);
      await this.state.finish(tx, this.projection.name, this.projection.version, scannedTo, caught);
      return caught;
    });
    folded += caughtUpInSwap;
    total = Math.max(total, folded);
    report('done');
    const seconds = (Date.now() - started) / 1000;
    return {
      projection: this.projection.name,
      version: this.projection.version,
      scope: this.scope,
      resumedFrom,
      folded,
      caughtUpInSwap,
      seconds,
      eventsPerSecond: seconds > 0 ? Math.round((folded - resumedFrom) / seconds) : 0,
    };
  }

  /** Refuses rebuilds that would mix versions or collide with another rebuild. */
  private check(s: ProjectionStateRow): void {
    const name = this.projection.name;
    const code = this.projection.version;
    if (code < s.live_version) {
      throw new TributaryError(ErrorCode.Conflict, `${name}: this code declares version ${code}, older than the live version ${s.live_version}`);
    }
    if (this.scoped && code !== s.live_version) {
      throw new TributaryError(
        ErrorCode.Conflict,
        `${name}: the code declares version ${code} but version ${s.live_version} is live; a version change rebuilds every tenant and time (drop --tenant/--from/--to)`,
      );
    }
    if (s.status === 'rebuilding' && !this.resumable(s) && !this.opts.restart) {
      throw new TributaryError(
        ErrorCode.Conflict,
        `${name}: another rebuild is in progress (version ${s.target_version}, tenant ${s.tenant_id ?? 'all'}, ${s.time_from?.toISOString() ?? '-'}..${s.time_to?.toISOString() ?? '-'}); re-run it with the same options to resume, or pass --restart`,
      );
    }
  }

  private resumable(s: ProjectionStateRow): boolean {
    return (
      !this.opts.restart &&
      s.status === 'rebuilding' &&
      s.target_version === this.projection.version &&
      (s.tenant_id ?? undefined) === this.scope.tenant &&
      (s.time_from?.getTime() ?? undefined) === (this.scope.from ? Date.parse(this.scope.from) : undefined) &&
      (s.time_to?.getTime() ?? undefined) === (this.scope.to ? Date.parse(this.scope.to) : undefined)
    );
  }

  /** A fresh shadow table and checkpoint. */
  private async begin(): Promise<ProjectionStateRow> {
    const cut = await this.takeCut();
    const total = await this.count(0n, cut);
    return inTransaction(this.pool, async (tx) => {
      await tx.query(`DROP TABLE IF EXISTS ${ident(this.shadow)}`);
      await tx.query(`CREATE TABLE ${ident(this.shadow)} (LIKE ${ident(this.projection.table)} INCLUDING ALL)`);
      return this.state.start(tx, this.projection.name, {
        targetVersion: this.projection.version,
        tenant: this.scope.tenant ?? null,
        from: this.scope.from ?? null,
        to: this.scope.to ?? null,
        shadow: this.shadow,
        cut,
        total,
      });
    });
  }

  /**
   * The highest applied_seq while no transaction writing `events` is in flight (they all take
   * ROW EXCLUSIVE, which SHARE waits for), so every number at or below it is committed.
   */
  private takeCut(): Promise<bigint> {
    return inTransaction(this.pool, async (tx) => {
      await tx.query(`LOCK TABLE events IN SHARE MODE`);
      const r = await tx.query(`SELECT coalesce(max(applied_seq), 0) AS cut FROM events`);
      return BigInt(r.rows[0].cut);
    });
  }

  private filter(after: bigint, upTo: bigint | null = null): { sql: string; params: unknown[] } {
    const params: unknown[] = [after.toString()];
    const where = [`status = 'processed'`, `applied_seq > $1`];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (upTo !== null) add('applied_seq <= ?', upTo.toString());
    if (this.scope.tenant) add('tenant_id = ?', this.scope.tenant);
    if (this.scope.from) add('time >= ?', this.scope.from);
    if (this.scope.to) add('time < ?', this.scope.to);
    return { sql: where.join(' AND '), params };
  }

  private async count(after: bigint, upTo: bigint | null): Promise<number> {
    const f = this.filter(after, upTo);
    return Number((await this.pool.query(`SELECT count(*) AS n FROM events WHERE ${f.sql}`, f.params)).rows[0].n);
  }

  /** Folds the next batch after `after` (up to `upTo`) into the shadow table, with the projection's code. */
  private async foldBatch(tx: Queryable, after: bigint, upTo: bigint | null): Promise<{ count: number; scannedTo: bigint }> {
    const f = this.filter(after, upTo);
    f.params.push(this.opts.batchSize);
    const r = await tx.query(
      `SELECT tenant_id, event_id, type, subject, sequence, time, data, applied_seq FROM events
        WHERE ${f.sql} ORDER BY applied_seq LIMIT $${f.params.length}`,
      f.params,
    );
    const events: ProjectedEvent[] = r.rows.map((row) => ({
      tenant: row.tenant_id,
      id: row.event_id,
      type: row.type,
      subject: row.subject,
      sequence: row.sequence === null ? null : Number(row.sequence),
      time: row.time,
      data: row.data,
    }));
    await applyProjection(this.projection, tx, events, this.shadow);
    // A short batch means everything up to the bound was read.
    const full = r.rows.length === this.opts.batchSize;
    const scannedTo = full || upTo === null ? (r.rows.length ? BigInt(r.rows[r.rows.length - 1].applied_seq) : after) : upTo;
    return { count: r.rows.length, scannedTo };
  }

  /** Replaces the live rows: the whole table by rename, or only the rebuilt tenant/time rows. */
  private async swap(tx: PoolClient): Promise<void> {
    const live = ident(this.projection.table);
    const shadow = ident(this.shadow);
    if (!this.scoped) {
      await tx.query(`DROP TABLE ${live}`);
      await tx.query(`ALTER TABLE ${shadow} RENAME TO ${live}`);
      return;
    }
    const { tenantColumn, timeColumn } = this.projection.scope;
    const params: unknown[] = [];
    const where: string[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (this.scope.tenant) add(`${ident(tenantColumn)} = ?`, this.scope.tenant);
    if (this.scope.from) add(`${ident(timeColumn)} >= ?`, this.scope.from);
    if (this.scope.to) add(`${ident(timeColumn)} < ?`, this.scope.to);
    await tx.query(`DELETE FROM ${live} WHERE ${where.join(' AND ')}`, params);
    await tx.query(`INSERT INTO ${live} SELECT * FROM ${shadow}`);
    await tx.query(`DROP TABLE ${shadow}`);
  }
}

/** The per-unit alignment a scoped rebuild needs: a bucket must be rebuilt whole or not at all. */
export function misaligned(projection: Projection<any>, time: string): boolean {
  return Date.parse(time) % projection.scope.timeUnitMs !== 0;
}
