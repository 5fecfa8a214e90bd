import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from './logger';
import { stopTracing } from './tracing';

/**
 * Graceful shutdown, the one way for every app: the first SIGTERM/SIGINT closes the app (HTTP stops
 * taking requests and finishes in-flight ones; the processor finishes its batches, commits and
 * leaves the group), flushes spans and exits 0. A second signal, or `timeoutMs` passing, exits 1.
 */
export function handleShutdown(app: INestApplicationContext, component: string, timeoutMs: number): void {
  const log = new Logger(component);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn('shutdown_forced', { signal });
      process.exit(1);
    }
    log.info('shutdown_started', { signal, deadline_ms: timeoutMs });
    setTimeout(() => {
      log.error('shutdown_deadline_exceeded', { deadline_ms: timeoutMs });
      process.exit(1);
    }, timeoutMs).unref();
    app
      .close()
      .then(() => stopTracing())
      .then(() => {
        log.info('shutdown_complete');
        process.exit(0);
      })
      .catch((e) => {
        log.error('shutdown_failed', { error: (e as Error).message });
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
