import * as fs from 'fs';
import * as readline from 'readline';
import type { Pool } from 'pg';
import { INGEST_LIMITS } from '@tributary/contracts/decode-ingest';
import { EventEnvelope } from '@tributary/contracts/envelope';
import { dataErrors } from '@tributary/contracts/event-rules';
import { validateEvent } from '@tributary/contracts/validate-event';
import type { EventProducer } from '@tributary/kafka/event-producer';
import { SchemasRepository } from '@tributary/store/schemas.repository';

export interface Reject {
  line: number;
  error: string;
  raw: string;
}

export interface BackfillSummary {
  tenant: string;
  lines: number;
  /** Produced to Kafka (acks=all), or that would be with --dry-run. */
  accepted: number;
  /** Ids already in the event store when checked, or repeated earlier in the input: not produced. */
  duplicates: number;
  rejected: number;
  rejects: Reject[];
  dryRun: boolean;
  seconds: number;
  eventsPerSecond: number;
}

export interface BackfillOptions {
  tenant: string;
  dryRun: boolean;
  /** Events per second at most; undefined = as fast as Kafka takes them. */
  rate?: number;
  chunk?: number;
  onRejected?: (r: Reject) => void;
  onProgress?: (lines: number) => void;
}

type Candidate = { line: number; envelope: EventEnvelope };

/**
 * Backfills NDJSON events (plain or CloudEvents, one per line) for one tenant through the
 * gateway's path: the same validation (libs/contracts: envelope, the tenant's JSON Schemas, the
 * business rules), the same envelope and the same idempotent acks=all producer, keeping each
 * event's own time.
 * Ids are required: they make a re-run add nothing.
 */
export async function backfill(input: NodeJS.ReadableStream, pool: Pool, producer: EventProducer | null, o: BackfillOptions): Promise<BackfillSummary> {
  const started = Date.now();
  const schemas = new SchemasRepository(pool);
  const seen = new Set<string>();
  const summary: BackfillSummary = { tenant: o.tenant, lines: 0, accepted: 0, duplicates: 0, rejected: 0, rejects: [], dryRun: o.dryRun, seconds: 0, eventsPerSecond: 0 };
  const reject = (line: number, error: string, raw: string) => {
    const r = { line, error, raw };
    summary.rejected++;
    if (summary.rejects.length < 1000) summary.rejects.push(r);
    o.onRejected?.(r);
  };
  let chunk: Candidate[] = [];

  const flush = async () => {
    if (chunk.length === 0) return;
    const ids = chunk.map((c) => c.envelope.id);
    const existing = new Set(
      (await pool.query<{ event_id: string }>(`SELECT event_id FROM event_ids WHERE tenant_id = $1 AND event_id = ANY($2::text[])`, [o.tenant, ids])).rows.map((r) => r.event_id),
    );
    const fresh = chunk.filter((c) => !existing.has(c.envelope.id));
    summary.duplicates += chunk.length - fresh.length;
    if (fresh.length > 0 && producer) {
      if (o.rate) {
        // Pace to the rate: the whole run so far may not be ahead of accepted / rate.
        const due = started + ((summary.accepted + fresh.length) / o.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await producer.publish(fresh.map((c) => c.envelope));
    }
    summary.accepted += fresh.length;
    chunk = [];
    o.onProgress?.(summary.lines);
  };

  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  for await (const raw of lines) {
    const line = ++summary.lines;
    if (raw.trim() === '') continue;
    const bytes = Buffer.byteLength(raw, 'utf8');
    if (bytes > INGEST_LIMITS.eventBytes) {
      reject(line, `event is ${bytes} bytes; the limit is ${INGEST_LIMITS.eventBytes}`, raw);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      reject(line, `not JSON: ${(e as Error).message}`, raw);
      continue;
    }
    // A line carrying specversion is a structured-mode CloudEvent, validated as the gateway would.
    const cloudEvents = typeof parsed === 'object' && parsed !== null && 'specversion' in parsed;
    const v = validateEvent(parsed, '', { cloudEvents });
    if (!v.ok) {
      reject(line, v.errors.map((e) => `${e.path} ${e.message}`).join('; '), raw);
      continue;
    }
    const e = v.event;
    const missing = [e.id === null ? '/id is required for backfill (it makes a re-run add nothing)' : null, e.time === null ? '/time is required for backfill (the event keeps its own time)' : null].filter(Boolean);
    if (missing.length) {
      reject(line, missing.join('; '), raw);
      continue;
    }
    const refused = await dataErrors(o.tenant, e.type, await schemas.get(o.tenant, e.type), e.data, '/data');
    if (refused.length) {
      reject(line, refused.map((x) => `${x.path} ${x.message}`).join('; '), raw);
      continue;
    }
    if (seen.has(e.id!)) {
      summary.duplicates++;
      continue;
    }
    seen.add(e.id!);
    chunk.push({ line, envelope: { ...e, tenant: o.tenant, id: e.id!, time: e.time!, receivedAt: new Date().toISOString() } });
    if (chunk.length >= (o.chunk ?? 2000)) await flush();
  }
  await flush();
  summary.seconds = (Date.now() - started) / 1000;
  summary.eventsPerSecond = summary.seconds > 0 ? Math.round(summary.accepted / summary.seconds) : 0;
  return summary;
}

/** Lines in a file, for the progress bar's total (stdin has none). */
export async function countLines(file: string): Promise<number> {
  let n = 0;
  let last = 10;
  for await (const buf of fs.createReadStream(file)) {
    const b = buf as Buffer;
    for (let i = 0; i < b.length; i++) if (b[i] === 10) n++;
    if (b.length) last = b[b.length - 1];
  }
  return last === 10 ? n : n + 1;
}
