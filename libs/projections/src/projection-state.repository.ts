import type { Pool } from 'pg';
import { Queryable, withTenant } from '@tributary/store/database';
import type { Projection } from './projection';

/** --source kafka: per partition (as a string key), the next offset to read and the scan's end. */
export type KafkaPositions = Record<string, { next: string; end: string }>;

export interface ProjectionStateRow {
  name: string;
  live_version: number;
  status: 'live' | 'rebuilding';
  target_version: number | null;
  tenant_id: string | null;
  time_from: Date | null;
  time_to: Date | null;
  shadow_table: string | null;
  source: 'store' | 'kafka';
  kafka_positions: KafkaPositions | null;
  scanned_to: string;
  cut: string;
  folded: string;
  total: string;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

/** What `projections list` and GET /v1/projections show for one projection. */
export interface ProjectionStatus {
  name: string;
  /** The version whose rows the reads answer from. */
  liveVersion: number;
  /** The version the code of this process declares. */
  codeVersion: number;
  /** live; rebuilding (a rebuild is running or was interrupted); stale (the code declares a newer version: run `tributary rebuild`). */
  status: 'live' | 'rebuilding' | 'stale';
  /** Processed events not yet folded into the table being built (0 when live: projections apply in the processor's transaction). */
  lag: number;
  /** Fraction of the rebuild done (folded / total), 1 when live. */
  progress: number;
  rebuild: null | {
    targetVersion: number;
    source: 'store' | 'kafka';
    tenant: string | null;
    from: string | null;
    to: string | null;
    /** Events folded and to fold; null in a tenant's view of a rebuild of every tenant. */
    folded: number | null;
    total: number | null;
    startedAt: string | null;
    finishedAt: string | null;
  };
}

/** projection_state: the live version of each projection and its running (or last) rebuild. */
export class ProjectionStateRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * The projection's row. A projection first seen here (added after events were stored) gets live
   * version 0: its table holds only what the processor applied since it shipped, so it shows as
   * stale until `tributary rebuild` builds it from the whole store.
   */
  async ensure(p: Projection<any>, db: Queryable = this.pool): Promise<ProjectionStateRow> {
    await db.query(`INSERT INTO projection_state (name, live_version) VALUES ($1, 0) ON CONFLICT DO NOTHING`, [p.name]);
    return (await db.query<ProjectionStateRow>(`SELECT * FROM projection_state WHERE name = $1`, [p.name])).rows[0];
  }

  async start(
    tx: Queryable,
    name: string,
    r: {
      targetVersion: number; tenant: string | null; from: string | null; to: string | null; shadow: string; cut: bigint; total: number;
      source: 'store' | 'kafka'; kafkaPositions: KafkaPositions | null;
    },
  ): Promise<ProjectionStateRow> {
    const res = await tx.query<ProjectionStateRow>(
      `UPDATE projection_state SET status = 'rebuilding', target_version = $2, tenant_id = $3, time_from = $4, time_to = $5,
              shadow_table = $6, scanned_to = 0, cut = $7, folded = 0, total = $8, source = $9, kafka_positions = $10,
              started_at = now(), finished_at = NULL, updated_at = now()
        WHERE name = $1 RETURNING *`,
      [name, r.targetVersion, r.tenant, r.from, r.to, r.shadow, r.cut.toString(), r.total, r.source, r.kafkaPositions === null ? null : JSON.stringify(r.kafkaPositions)],
    );
    return res.rows[0];
  }

  /** The rebuild's checkpoint; runs in the transaction that wrote the batch into the shadow table. */
  async advance(tx: Queryable, name: string, scannedTo: bigint, folded: number): Promise<void> {
    await tx.query(`UPDATE projection_state SET scanned_to = $2, folded = folded + $3, updated_at = now() WHERE name = $1`, [name, scannedTo.toString(), folded]);
  }

  /** --source kafka's checkpoint; runs in the transaction that wrote the batch into the shadow table. */
  async advanceKafka(tx: Queryable, name: string, positions: KafkaPositions, folded: number): Promise<void> {
    await tx.query(`UPDATE projection_state SET kafka_positions = $2, folded = folded + $3, updated_at = now() WHERE name = $1`, [name, JSON.stringify(positions), folded]);
  }

  async extend(db: Queryable, name: string, cut: bigint, total: number): Promise<void> {
    await db.query(`UPDATE projection_state SET cut = $2, total = $3, updated_at = now() WHERE name = $1`, [name, cut.toString(), total]);
  }

  async finish(tx: Queryable, name: string, version: number, scannedTo: bigint, folded: number): Promise<void> {
    await tx.query(
      `UPDATE projection_state SET status = 'live', live_version = $2, scanned_to = $3, cut = $3, folded = folded + $4,
              total = greatest(total, folded + $4), shadow_table = NULL, finished_at = now(), updated_at = now()
        WHERE name = $1`,
      [name, version, scannedTo.toString(), folded],
    );
  }

  /**
   * Status of every projection this process knows, in registry order. With `tenant` (a tenant's
   * key, GET /v1/projections) it is that tenant's view and names no other tenant: a rebuild
   * scoped to another tenant is not shown (that tenant's reads are the only ones it changes),
   * lag counts the tenant's own events, and a rebuild of every tenant shows its progress as a
   * fraction only (folded and total would be every tenant's volume). Without it (the CLI, an
   * operator) everything is shown.
   */
  async statuses(projections: readonly Projection<any>[], tenant?: string): Promise<ProjectionStatus[]> {
    // A tenant's view reads in that tenant's transaction (row-level security holds the lag count to its events).
    return tenant === undefined ? this.statusesIn(this.pool, projections) : withTenant(this.pool, tenant, (tx) => this.statusesIn(tx, projections, tenant));
  }

  private async statusesIn(db: Queryable, projections: readonly Projection<any>[], tenant?: string): Promise<ProjectionStatus[]> {
    const rows = new Map((await db.query<ProjectionStateRow>(`SELECT * FROM projection_state`)).rows.map((r) => [r.name, r]));
    const out: ProjectionStatus[] = [];
    for (const p of projections) {
      const r = rows.get(p.name) ?? (await this.ensure(p, db));
      const visible = tenant === undefined || r.tenant_id === null || r.tenant_id === tenant;
      const rebuilding = r.status === 'rebuilding' && visible;
      let lag = 0;
      if (rebuilding) {
        const params: unknown[] = [r.scanned_to];
        let where = `status = 'processed' AND applied_seq > $1`;
        const scope = tenant ?? r.tenant_id;
        if (scope) where += ` AND tenant_id = $${params.push(scope)}`;
        if (r.time_from) where += ` AND time >= $${params.push(r.time_from)}`;
        if (r.time_to) where += ` AND time < $${params.push(r.time_to)}`;
        lag = Number((await db.query(`SELECT count(*) AS n FROM events WHERE ${where}`, params)).rows[0].n);
      }
      const folded = Number(r.folded);
      // Progress is the rebuild's own (folded / total over its whole scope), whoever asks.
      const scopeLag = tenant !== undefined && r.tenant_id === null ? 0 : lag;
      const total = Math.max(Number(r.total), folded + scopeLag);
      const counts = tenant === undefined || r.tenant_id !== null;
      out.push({
        name: p.name,
        liveVersion: r.live_version,
        codeVersion: p.version,
        status: rebuilding ? 'rebuilding' : p.version > r.live_version ? 'stale' : 'live',
        lag,
        progress: rebuilding ? (total > 0 ? Math.min(1, folded / total) : 0) : 1,
        rebuild:
          r.target_version === null || !visible
            ? null
            : {
                targetVersion: r.target_version,
                source: r.source,
                tenant: r.tenant_id,
                from: r.time_from?.toISOString() ?? null,
                to: r.time_to?.toISOString() ?? null,
                folded: counts ? folded : null,
                total: counts ? total : null,
                startedAt: r.started_at?.toISOString() ?? null,
                finishedAt: r.finished_at?.toISOString() ?? null,
              },
      });
    }
    return out;
  }
}
