import type { Histogram } from 'prom-client';
import { metrics } from '@tributary/observability/metrics';

// Label children are looked up once per (method, route pattern, status); the route pattern, not
// the URL, keeps the label set bounded.
const children = new Map<string, Histogram.Internal<string>>();

/** tributary_http_request_duration_seconds, for Fastify's routes and the ingest path alike. */
export function observeHttp(method: string, route: string, status: number, seconds: number): void {
  const key = `${method} ${route} ${status}`;
  let h = children.get(key);
  if (!h) children.set(key, (h = metrics.httpDuration.labels({ method, route, status: String(status) })));
  h.observe(seconds);
}
