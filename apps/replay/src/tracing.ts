// First import of main.ts: instrumentation must patch http and pg before anything loads them.
import { startTracing } from '@tributary/observability/tracing';

startTracing('tributary-replay');
