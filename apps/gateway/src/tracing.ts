// First import of main.ts: instrumentation must patch http and pg before anything loads them.
import { startTracing } from '@tributary/observability/tracing';

// HTTP server spans are made by the gateway (http/server-spans.ts), not HttpInstrumentation; small
// span exports keep each synchronous serialisation short (see TracingOptions.maxExportBatchSize).
startTracing('tributary-gateway', { httpInstrumentation: false, maxExportBatchSize: 128 });
