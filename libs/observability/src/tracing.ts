import { context, propagation, Context, Link, Span, SpanKind, SpanOptions, SpanStatusCode, trace, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

let sdk: NodeSDK | undefined;

export interface TracingOptions {
  /**
   * Spans per OTLP export (default 512; OTEL_BSP_MAX_EXPORT_BATCH_SIZE overrides). An export is
   * serialised synchronously on the event loop inside the span.end() that fills the batch, ~15 µs
   * per span: 4,096 spans stalled it for ~50–70 ms, which at 2,000 ingest requests/s (4,000
   * spans/s) was the gateway's p99 once a second. The gateway exports 128 at a time (p99 at
   * 2,000 req/s 13.5 / 15.8 ms against 19.1 / 19.9 ms with 512, interleaved runs).
   */
  maxExportBatchSize?: number;
}

/**
 * Starts the OpenTelemetry SDK. Must run before Nest, pg or http are loaded (each app's
 * `tracing.ts` is the first import of its main.ts) so the instrumentations can patch them.
 * Spans are exported over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT; without it they still exist
 * (trace ids in logs and Kafka headers) but go nowhere. Traces only: metrics are Prometheus
 * (metrics.ts) and logs pino JSON lines, so the SDK's default OTLP metric and log pipelines are
 * off (they cost every request a histogram update and exported nothing anyone reads).
 */
export function startTracing(serviceName: string, opts: TracingOptions = {}): void {
  if (sdk) return;
  const exporting = !!(process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: process.env.OTEL_SERVICE_NAME ?? serviceName }),
    spanProcessors: exporting ? [new BatchSpanProcessor(new OTLPTraceExporter(), spanQueue(opts.maxExportBatchSize ?? 512))] : [],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      // No HttpInstrumentation: the gateway makes its own server spans (apps/gateway/src/http/
      // server-spans.ts, cheaper per request), and the processor serves only probes and scrapes.
      // Only SQL issued inside a traced operation (a request or a batch) becomes a span.
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
}

/**
 * The processor ends two spans per event right after each batch commits: 4,000 at once for a
 * batch of 2,000, and several batches may commit together. The SDK's default queue (2,048 spans)
 * silently drops the rest, so size it for that burst, and export in larger requests. The
 * standard OTEL_BSP_* variables still override both.
 */
function spanQueue(maxExportBatchSize: number): { maxQueueSize?: number; maxExportBatchSize?: number } {
  return {
    ...(process.env.OTEL_BSP_MAX_QUEUE_SIZE ? {} : { maxQueueSize: 32_768 }),
    ...(process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE ? {} : { maxExportBatchSize }),
  };
}

/** Flushes pending spans; call on shutdown. */
export async function stopTracing(): Promise<void> {
  await sdk?.shutdown().catch(() => undefined);
  sdk = undefined;
}

let tributaryTracer: Tracer | undefined;
/** The one tracer of Tributary's own spans (looked up once: getTracer is not free per span). */
export const tracer = (): Tracer => (tributaryTracer ??= trace.getTracer('tributary'));

/** Runs `fn` in a new active span; a throw is recorded on the span and rethrown. */
export function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      throw e;
    } finally {
      span.end();
    }
  });
}

/** W3C trace context of `ctx` as Kafka message headers. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context a message's headers carry (the producer's span), or undefined. */
export function contextFromHeaders(headers: Record<string, string>): Context | undefined {
  if (!headers.traceparent) return undefined;
  const ctx = propagation.extract(context.active(), headers);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

export function linkTo(ctx: Context | undefined): Link[] {
  const sc = ctx && trace.getSpanContext(ctx);
  return sc ? [{ context: sc }] : [];
}

export { SpanKind, context, trace };
