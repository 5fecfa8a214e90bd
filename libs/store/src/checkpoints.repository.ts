import type { Pool } from 'pg';
import type { Queryable } from './database';

/**
 * Consumer checkpoints in Postgres: the next offset to apply per (group, topic, partition).
 * Invariant: written in the same transaction as the event store and projection rows it covers.
 */
export class CheckpointsRepository {
  constructor(private readonly pool: Pool, private readonly groupId: string) {}

  async load(topic: string, partitions: number[]): Promise<Map<number, bigint>> {
    const r = await this.pool.query<{ partition: number; next_offset: string }>(
      `SELECT partition, next_offset FROM consumer_checkpoints WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])`,
      [this.groupId, topic, partitions],
    );
    return new Map(r.rows.map((row) => [row.partition, BigInt(row.next_offset)]));
  }

  /**
   * Locks the partition's checkpoint row for the rest of the transaction and returns the next
   * offset to apply. Two consumers briefly owning one partition (a rebalance) serialise here, and
   * the second skips what the first applied.
   */
  async lock(tx: Queryable, topic: string, partition: number): Promise<bigint> {
    // One round trip: ON CONFLICT DO UPDATE locks the row (waiting for another owner's transaction)
    // and returns its latest committed offset, like INSERT … DO NOTHING + SELECT … FOR UPDATE did.
    const r = await tx.query<{ next_offset: string }>(
      `INSERT INTO consumer_checkpoints (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0)
       ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = consumer_checkpoints.next_offset
       RETURNING next_offset`,
      [this.groupId, topic, partition],
    );
    return BigInt(r.rows[0].next_offset);
  }

  async advance(tx: Queryable, topic: string, partition: number, nextOffset: bigint): Promise<void> {
    await tx.query(
      `UPDATE consumer_checkpoints SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3`,
      [this.groupId, topic, partition, nextOffset.toString()],
    );
  }
}
