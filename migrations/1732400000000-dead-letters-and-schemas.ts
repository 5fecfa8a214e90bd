import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ordered dead-lettering and per-tenant JSON Schemas.
 * - streams.blocked_by: the open dead letter a stream is parked behind (later events wait).
 * - events.status gains 'parked' and 'discarded'; parked events have no sequence until released.
 */
export class DeadLettersAndSchemas1732400000000 implements MigrationInterface {
  name = 'DeadLettersAndSchemas1732400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE streams ADD COLUMN blocked_by bigint`);
    await q.query(`ALTER TABLE streams ALTER COLUMN last_sequence SET DEFAULT 0`);
    await q.query(`CREATE INDEX events_parked ON events (tenant_id, subject, kafka_partition, kafka_offset) WHERE status = 'parked'`);
    await q.query(`ALTER TABLE dead_letters ADD COLUMN subject text`);
    await q.query(`ALTER TABLE dead_letters ADD COLUMN status text NOT NULL DEFAULT 'open'`);
    await q.query(`ALTER TABLE dead_letters ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()`);
    await q.query(`CREATE INDEX dead_letters_open ON dead_letters (tenant_id, id) WHERE status = 'open'`);
    await q.query(`CREATE UNIQUE INDEX dead_letters_event ON dead_letters (tenant_id, event_id) WHERE event_id IS NOT NULL`);
    await q.query(`
      CREATE TABLE event_schemas (
        tenant_id  text NOT NULL REFERENCES tenants(id),
        type       text NOT NULL,
        schema     jsonb NOT NULL,
        version    integer NOT NULL DEFAULT 1,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, type)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS event_schemas`);
    await q.query(`DROP INDEX IF EXISTS dead_letters_event`);
    await q.query(`DROP INDEX IF EXISTS dead_letters_open`);
    await q.query(`ALTER TABLE dead_letters DROP COLUMN updated_at, DROP COLUMN status, DROP COLUMN subject`);
    await q.query(`DROP INDEX IF EXISTS events_parked`);
    await q.query(`ALTER TABLE streams DROP COLUMN blocked_by`);
  }
}
