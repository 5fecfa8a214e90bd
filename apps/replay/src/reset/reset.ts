import type { Pool } from 'pg';
import type { KafkaConfig } from '@tributary/config/config';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { createKafka } from '@tributary/kafka/kafka-client';
import { inTransaction } from '@tributary/store/database';

export type ResetTarget = { kind: 'earliest' } | { kind: 'timestamp'; time: string };

export interface PartitionMove {
  partition: number;
  /** Postgres checkpoint before (null: never processed). */
  checkpoint: number | null;
  /** Kafka committed offset before (null: none). */
  committed: number | null;
  target: number;
  /** Messages that will be read again (target → checkpoint). */
  reread: number;
}

export interface ResetPlan {
  group: string;
  topic: string;
  target: ResetTarget;
  tenant: string | null;
  partitions: PartitionMove[];
}

/**
 * Moves a consumer group back so its processors re-read Kafka from a point: the Postgres
 * checkpoints (the truth the processor starts from) and the Kafka committed offsets together.
 * Safe because applying is idempotent: event_ids makes re-read events no-ops.
 * Invariants: refuses while the group has members (their in-memory positions would win, and
 * their next batch would move the checkpoint again); never moves a checkpoint forward, which
 * would skip events that were never applied.
 */
export class GroupReset {
  constructor(private readonly pool: Pool, private readonly kafka: KafkaConfig) {}

  async plan(group: string, target: ResetTarget, tenant: string | null): Promise<ResetPlan> {
    const admin = createKafka(this.kafka).admin();
    await admin.connect();
    try {
      await this.assertEmpty(admin, group);
      const topic = this.kafka.topic;
      const ends = await admin.fetchTopicOffsets(topic);
      const targets =
        target.kind === 'earliest'
          ? new Map(ends.map((o) => [o.partition, Number(o.low)]))
          : new Map((await admin.fetchTopicOffsetsByTimestamp(topic, Date.parse(target.time))).map((o) => [o.partition, Number(o.offset)]));
      let partitions = ends.map((o) => o.partition).sort((a, b) => a - b);
      if (tenant) {
        // The partitions holding the tenant's stored events: its keys (tenant, tenant:partitionkey)
        // hash there. Other tenants sharing those partitions are re-read too (harmless: deduplicated).
        const r = await this.pool.query<{ p: number }>(
          `SELECT DISTINCT kafka_partition AS p FROM events WHERE tenant_id = $1
           UNION SELECT DISTINCT kafka_partition FROM dead_letters WHERE tenant_id = $1`,
          [tenant],
        );
        const mine = new Set(r.rows.map((x) => x.p));
        partitions = partitions.filter((p) => mine.has(p));
      }
      const checkpoints = new Map(
        (await this.pool.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset FROM consumer_checkpoints WHERE group_id = $1 AND topic = $2`, [group, topic])).rows.map(
          (r) => [r.partition, Number(r.next_offset)],
        ),
      );
      const committed = new Map(
        ((await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions ?? []).filter((p) => Number(p.offset) >= 0).map((p) => [p.partition, Number(p.offset)]),
      );
      const high = new Map(ends.map((o) => [o.partition, Number(o.high)]));
      return {
        group,
        topic,
        target,
        tenant,
        partitions: partitions.map((partition) => {
          const checkpoint = checkpoints.get(partition) ?? null;
          // -1 from the timestamp lookup: no message at or after it; the end of the partition.
          let t = targets.get(partition) ?? 0;
          if (t < 0) t = high.get(partition) ?? 0;
          if (checkpoint !== null) t = Math.min(t, checkpoint);
          return { partition, checkpoint, committed: committed.get(partition) ?? null, target: t, reread: checkpoint === null ? 0 : checkpoint - t };
        }),
      };
    } finally {
      await admin.disconnect();
    }
  }

  /** Applies a plan: Postgres checkpoints and Kafka offsets in one Postgres transaction (Kafka first, so a Kafka failure moves nothing). */
  async apply(plan: ResetPlan): Promise<void> {
    const moves = plan.partitions.filter((p) => p.checkpoint !== null && p.target !== p.checkpoint);
    if (moves.length === 0) return;
    await inTransaction(this.pool, async (tx) => {
      for (const m of moves) {
        await tx.query(
          `UPDATE consumer_checkpoints SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3`,
          [plan.group, plan.topic, m.partition, m.target],
        );
      }
      // A consumer that never subscribes commits as a "simple" member; the broker accepts it while the group is empty.
      const consumer = createKafka(this.kafka).consumer({ 'group.id': plan.group, 'enable.auto.commit': false } as any);
      await consumer.connect();
      try {
        await consumer.commitOffsets(moves.map((m) => ({ topic: plan.topic, partition: m.partition, offset: String(m.target) })));
      } finally {
        await consumer.disconnect();
      }
      const admin = createKafka(this.kafka).admin();
      await admin.connect();
      try {
        // A processor that joined meanwhile may already have loaded the old checkpoints: roll back.
        await this.assertEmpty(admin, plan.group);
      } finally {
        await admin.disconnect();
      }
    });
  }

  private async assertEmpty(admin: ReturnType<ReturnType<typeof createKafka>['admin']>, group: string): Promise<void> {
    const d = (await admin.describeGroups([group])).groups[0];
    if (d && d.members.length > 0) {
      const who = d.members.map((m) => `${m.clientId}@${m.clientHost}`).join(', ');
      throw new TributaryError(ErrorCode.Conflict, `group '${group}' has ${d.members.length} active member(s) (${who}); stop its processors first, then reset, then start them`);
    }
  }
}
