// First import of main.ts: instrumentation must patch http and pg before anything loads them.
import { startTracing } from '@tributary/observability/tracing';

// HTTP server spans come from Fastify hooks (http/server-spans.ts), not HttpInstrumentation.
startTracing('tributary-gateway', { httpInstrumentation: false });
