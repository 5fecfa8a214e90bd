import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Projection versions and rebuilds.
 * - events.applied_seq: a store-wide order of the moment an event was stored or changed status
 *   (a dead-letter retry re-numbers it). A rebuild scans it in order with its own checkpoint and
 *   catches up with everything numbered after its scan.
 * - projection_state: per projection, the live version and the state of a running rebuild.
 */
export class ProjectionVersions1732500000000 implements MigrationInterface {
  name = 'ProjectionVersions1732500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE SEQUENCE events_applied_seq AS bigint`);
    // Added without a default first: a volatile default would rewrite every partition at once.
    await q.query(`ALTER TABLE events ADD COLUMN applied_seq bigint`);
    await q.query(`UPDATE events SET applied_seq = nextval('events_applied_seq')`);
    await q.query(`ALTER TABLE events ALTER COLUMN applied_seq SET DEFAULT nextval('events_applied_seq')`);
    await q.query(`CREATE INDEX events_applied_seq_idx ON events (applied_seq)`);
    await q.query(`
      CREATE TABLE projection_state (
        name          text PRIMARY KEY,
        live_version  integer NOT NULL,
        status        text NOT NULL DEFAULT 'live' CHECK (status IN ('live', 'rebuilding')),
        -- the running (or last) rebuild
        target_version integer,
        tenant_id     text,
        time_from     timestamptz,
        time_to       timestamptz,
        shadow_table  text,
        source        text NOT NULL DEFAULT 'store' CHECK (source IN ('store', 'kafka')),
        -- --source kafka: per partition, the next offset to read and where the scan ends
        kafka_positions jsonb,
        scanned_to    bigint NOT NULL DEFAULT 0,
        cut           bigint NOT NULL DEFAULT 0,
        folded        bigint NOT NULL DEFAULT 0,
        total         bigint NOT NULL DEFAULT 0,
        started_at    timestamptz,
        finished_at   timestamptz,
        updated_at    timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`INSERT INTO projection_state (name, live_version) VALUES ('counts', 1)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS projection_state`);
    await q.query(`DROP INDEX IF EXISTS events_applied_seq_idx`);
    await q.query(`ALTER TABLE events DROP COLUMN IF EXISTS applied_seq`);
    await q.query(`DROP SEQUENCE IF EXISTS events_applied_seq`);
  }
}
