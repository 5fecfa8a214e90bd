/**
 * The event envelope as it travels on Kafka and lands in the event store.
 * CloudEvents 1.0 attribute names; `tenant` and `receivedAt` are set by the gateway, never by clients.
 */
export interface EventEnvelope {
  specversion: '1.0';
  id: string;
  tenant: string;
  type: string;
  source: string;
  subject: string | null;
  /** Event time (RFC 3339), defaults to receive time. */
  time: string;
  /** When the gateway accepted it (RFC 3339). */
  receivedAt: string;
  datacontenttype: string | null;
  data: unknown;
  partitionkey: string | null;
  /** CloudEvents extension attributes the client sent. */
  extensions: Record<string, string | number | boolean>;
}

/** What a client sends, after validation and before the gateway stamps tenant/id/time. */
export type EventInput = Omit<EventEnvelope, 'tenant' | 'receivedAt' | 'id' | 'time'> & {
  id: string | null;
  time: string | null;
};

export const DEFAULT_SOURCE = '/tributary/gateway';

/** Kafka key: per-tenant order by default; `tenant:partitionkey` spreads a hot tenant. */
export function kafkaKeyOf(e: Pick<EventEnvelope, 'tenant' | 'partitionkey'>): string {
  return e.partitionkey ? `${e.tenant}:${e.partitionkey}` : e.tenant;
}

export const TOPICS = {
  events: 'tributary.events',
  deadLetters: 'tributary.events.dlq',
} as const;
