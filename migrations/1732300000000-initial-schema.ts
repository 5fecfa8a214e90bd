import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The event store, streams, the counts projection, checkpoints, tenants and keys.
 * Runs unchanged on plain Postgres (native range partitioning + BRIN) and on TimescaleDB
 * (hypertable), chosen by whether the extension is available.
 */
export class InitialSchema1732300000000 implements MigrationInterface {
  name = 'InitialSchema1732300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
        name       text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id         uuid PRIMARY KEY,
        tenant_id  text NOT NULL REFERENCES tenants(id),
        name       text,
        key_hash   bytea NOT NULL UNIQUE,
        roles      text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await q.query(`CREATE INDEX api_keys_tenant ON api_keys (tenant_id)`);

    // Idempotency: one row per (tenant, event id), whatever table layout the events use.
    // Partitioned tables and hypertables cannot enforce a unique key without the time column.
    await q.query(`
      CREATE TABLE event_ids (
        tenant_id   text NOT NULL,
        event_id    text NOT NULL,
        received_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, event_id)
      )`);

    const columns = `
        tenant_id       text NOT NULL,
        event_id        text NOT NULL,
        type            text NOT NULL,
        source          text NOT NULL,
        subject         text,
        sequence        bigint,
        time            timestamptz NOT NULL,
        received_at     timestamptz NOT NULL,
        specversion     text NOT NULL DEFAULT '1.0',
        datacontenttype text,
        data            jsonb,
        extensions      jsonb,
        partition_key   text,
        kafka_partition integer NOT NULL,
        kafka_offset    bigint NOT NULL,
        status          text NOT NULL DEFAULT 'processed',
        traceparent     text`;
    const timescale = await q.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`);
    if (timescale.length > 0) {
      await q.query(`CREATE EXTENSION IF NOT EXISTS timescaledb`);
      await q.query(`CREATE TABLE events (${columns})`);
      await q.query(`SELECT create_hypertable('events', 'received_at', chunk_time_interval => interval '1 day')`);
    } else {
      await q.query(`CREATE TABLE events (${columns}) PARTITION BY RANGE (received_at)`);
      await q.query(`CREATE TABLE events_default PARTITION OF events DEFAULT`);
      await q.query(`CREATE INDEX events_received_brin ON events USING brin (received_at)`);
      await q.query(`
        CREATE FUNCTION tributary_ensure_event_partitions(months_ahead integer) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE
          m date := date_trunc('month', now())::date;
          name text;
        BEGIN
          FOR i IN 0..months_ahead LOOP
            name := format('events_%s', to_char(m, 'YYYY_MM'));
            IF to_regclass(name) IS NULL THEN
              EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                             name, m, (m + interval '1 month')::date);
            END IF;
            m := (m + interval '1 month')::date;
          END LOOP;
        END $$`);
      await q.query(`SELECT tributary_ensure_event_partitions(3)`);
    }
    await q.query(`CREATE INDEX events_by_id ON events (tenant_id, event_id)`);
    await q.query(`CREATE INDEX events_by_stream ON events (tenant_id, subject, sequence) WHERE subject IS NOT NULL`);
    await q.query(`CREATE INDEX events_by_time ON events (tenant_id, time, event_id)`);

    await q.query(`
      CREATE TABLE streams (
        tenant_id     text NOT NULL,
        subject       text NOT NULL,
        last_sequence bigint NOT NULL,
        PRIMARY KEY (tenant_id, subject)
      )`);
    await q.query(`
      CREATE TABLE event_counts (
        tenant_id text NOT NULL,
        type      text NOT NULL,
        bucket    timestamptz NOT NULL,
        count     bigint NOT NULL,
        PRIMARY KEY (tenant_id, type, bucket)
      )`);
    await q.query(`
      CREATE TABLE duplicate_counts (
        tenant_id    text PRIMARY KEY,
        count        bigint NOT NULL,
        last_seen_at timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE dead_letters (
        id          bigserial PRIMARY KEY,
        tenant_id   text,
        event_id    text,
        type        text,
        stage       text NOT NULL,
        error       text NOT NULL,
        attempts    integer NOT NULL DEFAULT 1,
        payload     text NOT NULL,
        kafka_partition integer NOT NULL,
        kafka_offset    bigint NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE consumer_checkpoints (
        group_id    text NOT NULL,
        topic       text NOT NULL,
        partition   integer NOT NULL,
        next_offset bigint NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_id, topic, partition)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['consumer_checkpoints', 'dead_letters', 'duplicate_counts', 'event_counts', 'streams', 'events', 'event_ids', 'api_keys', 'tenants']) {
      await q.query(`DROP TABLE IF EXISTS ${t} CASCADE`);
    }
    await q.query(`DROP FUNCTION IF EXISTS tributary_ensure_event_partitions(integer)`);
  }
}
