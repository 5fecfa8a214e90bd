// First import of main.ts: instrumentation must patch pg before anything loads it.
import { startTracing } from '@tributary/observability/tracing';

// Small span exports keep each synchronous serialisation short (see TracingOptions.maxExportBatchSize).
startTracing('tributary-gateway', { maxExportBatchSize: 128 });
