import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one process. Tenant labels are bounded: the first
 * TRIBUTARY_METRICS_TENANTS (default 50) tenants a process sees get their own label value, every
 * later one is counted as `other`, so a tenant flood cannot blow up the series count.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'tributary_' });

const MAX_TENANTS = Number(process.env.TRIBUTARY_METRICS_TENANTS ?? 50);
const admitted = new Set<string>();
export function tenantLabel(tenant: string): string {
  if (admitted.has(tenant)) return tenant;
  if (admitted.size < MAX_TENANTS) {
    admitted.add(tenant);
    return tenant;
  }
  return 'other';
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const metrics = {
  httpDuration: new Histogram({
    name: 'tributary_http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status code',
    labelNames: ['method', 'route', 'status'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  eventsAccepted: new Counter({ name: 'tributary_events_accepted_total', help: 'Events acknowledged by Kafka and answered 202', labelNames: ['tenant'], registers: [registry] }),
  eventsRejected: new Counter({ name: 'tributary_events_rejected_total', help: 'Events refused at ingest, by reason (error code)', labelNames: ['tenant', 'reason'], registers: [registry] }),
  producerInflight: new Gauge({ name: 'tributary_producer_inflight_messages', help: 'Messages handed to the producer and not yet acknowledged (producer queue depth)', registers: [registry] }),
  eventsProcessed: new Counter({ name: 'tributary_events_processed_total', help: 'Events appended to the event store and applied to projections', labelNames: ['tenant'], registers: [registry] }),
  eventsDuplicate: new Counter({ name: 'tributary_events_duplicates_total', help: 'Events whose id was already stored (counted, not applied)', labelNames: ['tenant'], registers: [registry] }),
  eventsDeadLettered: new Counter({ name: 'tributary_events_dead_lettered_total', help: 'Events sent to the dead-letter store, by stage', labelNames: ['stage'], registers: [registry] }),
  batchSize: new Histogram({ name: 'tributary_batch_size', help: 'Messages per applied partition batch', buckets: [1, 10, 50, 100, 250, 500, 1000, 5000], registers: [registry] }),
  batchDuration: new Histogram({ name: 'tributary_batch_duration_seconds', help: 'Time to apply one partition batch (one transaction)', buckets: LATENCY_BUCKETS, registers: [registry] }),
  batchFailures: new Counter({ name: 'tributary_batch_failures_total', help: 'Batch attempts that failed with a transient error and were retried', registers: [registry] }),
  batchBisections: new Counter({ name: 'tributary_batch_bisections_total', help: 'Batch splits made to narrow a permanent (data) failure down to its event', registers: [registry] }),
  endToEnd: new Histogram({
    name: 'tributary_end_to_end_latency_seconds',
    help: 'From gateway receive to processor commit, per event',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  consumerLag: new Gauge({ name: 'tributary_consumer_lag', help: 'Messages behind the partition end after the last applied batch', labelNames: ['topic', 'partition'], registers: [registry] }),
  loopLastProgress: new Gauge({ name: 'tributary_consumer_last_progress_seconds', help: 'Unix time the consumer loop last finished a batch or found nothing to do', registers: [registry] }),
};
