import { decodeEnvelope } from '@tributary/contracts/decode-envelope';
import type { Pool, PoolClient } from 'pg';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { inTransaction, Queryable } from '@tributary/store/database';
import { copyTableSecurity } from '@tributary/store/row-security';
import { KafkaPositions, ProjectionStateRepository, ProjectionStateRow } from './projection-state.repository';
import { applyProjection, ProjectedEvent, Projection } from './projection';

export interface RebuildScope {
  tenant?: string;
  /** Inclusive, aligned to the projection's time unit. */
  from?: string;
  /** Exclusive, aligned to the projection's time unit. */
  to?: string;
}

/** Reads ranges of the events topic (libs/kafka PartitionReader); the rebuild stays Kafka-client agnostic. */
export interface LogReader {
  read(partition: number, from: bigint, to: bigint, max: number): Promise<{ offset: bigint; value: Buffer | null }[]>;
}

/** Where the scan reads event payloads: the event store, or the Kafka topic up to the live group's checkpoints. */
export type RebuildSource = { kind: 'store' } | { kind: 'kafka'; reader: LogReader; topic: string; group: string };

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
    private readonly opts: { batchSize: number; restart?: boolean; source?: RebuildSource; onProgress?: (p: RebuildProgress) => void },
  ) {
    this.state = new ProjectionStateRepository(pool);
  }

  private get scoped(): boolean {
    return !!(this.scope.tenant || this.scope.from || this.scope.to);
  }

  private get source(): RebuildSource {
    return this.opts.source ?? { kind: 'store' };
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
    // One rebuild process per projection: two resuming the same checkpoint would fold batches twice.
    // A session lock, so a killed process releases it with its connection.
    const lock = await this.pool.connect();
    try {
      const got = (await lock.query(`SELECT pg_try_advisory_lock(hashtext('tributary-rebuild:' || current_schema() || ':' || $1)) AS ok`, [this.projection.name])).rows[0].ok;
      if (!got) throw new TributaryError(ErrorCode.Conflict, `${this.projection.name}: another rebuild process is running right now`);
      try {
        return await this.runLocked();
      } finally {
        await lock.query(`SELECT pg_advisory_unlock(hashtext('tributary-rebuild:' || current_schema() || ':' || $1))`, [this.projection.name]);
      }
    } finally {
      lock.release();
    }
  }

  private async runLocked(): Promise<RebuildResult> {
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

    if (s.source === 'kafka' && scannedTo < cut) {
      await this.scanKafka(s.kafka_positions ?? {}, cut, (n) => {
        folded += n;
        report('scan');
      });
      if (folded < total) {
        throw new Error(
          `Kafka no longer holds ${total - folded} of the ${total} events to rebuild from (retention); run with --source store --restart`,
        );
      }
      await this.state.advance(this.pool, this.projection.name, cut, 0);
      scannedTo = cut;
    }

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
      const { cut: next } = await this.takeCut();
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
      s.source === this.source.kind &&
      (s.tenant_id ?? undefined) === this.scope.tenant &&
      (s.time_from?.getTime() ?? undefined) === (this.scope.from ? Date.parse(this.scope.from) : undefined) &&
      (s.time_to?.getTime() ?? undefined) === (this.scope.to ? Date.parse(this.scope.to) : undefined)
    );
  }

  /** A fresh shadow table and checkpoint. */
  private async begin(): Promise<ProjectionStateRow> {
    const source = this.source;
    const { cut, checkpoints } = await this.takeCut(source.kind === 'kafka' ? source : undefined);
    const total = await this.count(0n, cut);
    // Kafka: every event numbered up to the cut came from a message below the group's checkpoint then.
    const kafkaPositions: KafkaPositions | null =
      source.kind === 'kafka' ? Object.fromEntries([...checkpoints].map(([p, end]) => [String(p), { next: '0', end: end.toString() }])) : null;
    return inTransaction(this.pool, async (tx) => {
      await tx.query(`DROP TABLE IF EXISTS ${ident(this.shadow)}`);
      await tx.query(`CREATE TABLE ${ident(this.shadow)} (LIKE ${ident(this.projection.table)} INCLUDING ALL)`);
      // LIKE copies no policy and no grant: without this the renamed-in table would be read by
      // no one but its owner (or, once granted by hand, by every tenant).
      await copyTableSecurity(tx, this.projection.table, this.shadow);
      return this.state.start(tx, this.projection.name, {
        targetVersion: this.projection.version,
        tenant: this.scope.tenant ?? null,
        from: this.scope.from ?? null,
        to: this.scope.to ?? null,
        shadow: this.shadow,
        cut,
        total,
        source: source.kind,
        kafkaPositions,
      });
    });
  }

  /**
   * --source kafka: reads each partition up to the checkpoint taken with the cut and folds the
   * messages that are the stored, processed event numbered at or below the cut (the store decides
   * what was applied: duplicates, dead letters and parked events are skipped). Payloads come from
   * Kafka; the stream sequence, which Kafka does not hold, from the store.
   */
  private async scanKafka(start: KafkaPositions, cut: bigint, onBatch: (folded: number) => void): Promise<void> {
    const source = this.source as Extract<RebuildSource, { kind: 'kafka' }>;
    const positions: KafkaPositions = JSON.parse(JSON.stringify(start));
    for (const partition of Object.keys(positions).map(Number).sort((a, b) => a - b)) {
      const pos = positions[String(partition)];
      while (BigInt(pos.next) < BigInt(pos.end)) {
        const messages = await source.reader.read(partition, BigInt(pos.next), BigInt(pos.end), this.opts.batchSize);
        if (messages.length === 0) {
          throw new Error(`Kafka returned nothing for ${source.topic}[${partition}] at offset ${pos.next} (the scan ends at ${pos.end}); is the broker reachable?`);
        }
        const n = await inTransaction(this.pool, async (tx) => {
          const count = await this.foldMessages(tx, partition, messages, cut);
          pos.next = (messages[messages.length - 1].offset + 1n).toString();
          await this.state.advanceKafka(tx, this.projection.name, positions, count);
          return count;
        });
        onBatch(n);
      }
    }
  }

  private async foldMessages(tx: Queryable, partition: number, messages: { offset: bigint; value: Buffer | null }[], cut: bigint): Promise<number> {
    const decoded: { offset: bigint; e: any }[] = [];
    for (const m of messages) {
      // Not an envelope: the processor dead-lettered it at decode; nothing to fold.
      const d = decodeEnvelope(m.value);
      if (d.ok) decoded.push({ offset: m.offset, e: d.envelope });
    }
    if (decoded.length === 0) return 0;
    const f = this.filter(0n, cut);
    const base = f.params.length;
    const r = await tx.query<{ tenant_id: string; event_id: string; kafka_offset: string; sequence: string | null }>(
      `SELECT tenant_id, event_id, kafka_offset, sequence FROM events
         JOIN unnest($${base + 1}::text[], $${base + 2}::text[], $${base + 3}::timestamptz[]) AS u(t, id, r)
           ON tenant_id = u.t AND event_id = u.id AND received_at = u.r
        WHERE ${f.sql} AND kafka_partition = $${base + 4}`,
      [...f.params, decoded.map((d) => d.e.tenant), decoded.map((d) => d.e.id), decoded.map((d) => d.e.receivedAt), partition],
    );
    const stored = new Map(r.rows.map((x) => [`${x.tenant_id}\u0000${x.event_id}\u0000${x.kafka_offset}`, x.sequence]));
    const events: ProjectedEvent[] = [];
    for (const { offset, e } of decoded) {
      const k = `${e.tenant}\u0000${e.id}\u0000${offset}`;
      if (!stored.has(k)) continue;
      const sequence = stored.get(k);
      events.push({ tenant: e.tenant, id: e.id, type: e.type, subject: e.subject ?? null, sequence: sequence === null || sequence === undefined ? null : Number(sequence), time: new Date(e.time), data: e.data ?? null });
    }
    await applyProjection(this.projection, tx, events, this.shadow);
    return events.length;
  }

  /**
   * The highest applied_seq while no transaction writing `events` is in flight (they all take
   * ROW EXCLUSIVE, which SHARE waits for), so every number at or below it is committed.
   */
  private takeCut(kafka?: { topic: string; group: string }): Promise<{ cut: bigint; checkpoints: Map<number, bigint> }> {
    return inTransaction(this.pool, async (tx) => {
      await tx.query(`LOCK TABLE events IN SHARE MODE`);
      const r = await tx.query(`SELECT coalesce(max(applied_seq), 0) AS cut FROM events`);
      const checkpoints = new Map<number, bigint>();
      if (kafka) {
        // Read under the same lock: no batch is between its events write and its checkpoint.
        const c = await tx.query(`SELECT partition, next_offset FROM consumer_checkpoints WHERE group_id = $1 AND topic = $2`, [kafka.group, kafka.topic]);
        for (const row of c.rows) checkpoints.set(row.partition, BigInt(row.next_offset));
      }
      return { cut: BigInt(r.rows[0].cut), checkpoints };
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
