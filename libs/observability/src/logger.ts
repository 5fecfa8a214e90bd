import type { LoggerService } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import pino from 'pino';

/**
 * JSON lines (pino) with a stable snake_case `event` name, structured fields, and the active
 * span's `trace_id` / `span_id`. Secrets are redacted by field name as a second line of defence;
 * never pass API keys or tokens as fields in the first place.
 */
const root = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  base: { service: process.env.OTEL_SERVICE_NAME },
  messageKey: 'event',
  timestamp: pino.stdTimeFunctions.isoTime,
  formatters: { level: (label) => ({ level: label }) },
  redact: { paths: ['key', 'token', 'authorization', '*.key', '*.token', '*.authorization', 'headers.authorization', 'headers["x-api-key"]'], censor: '[redacted]' },
  mixin() {
    const sc = trace.getActiveSpan()?.spanContext();
    return sc && sc.traceFlags !== undefined && sc.traceId !== '00000000000000000000000000000000' ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
  },
});

export class Logger {
  private readonly log: pino.Logger;
  constructor(component: string) {
    this.log = root.child({ component });
  }
  debug(event: string, fields: Record<string, unknown> = {}) { this.log.debug(fields, event); }
  info(event: string, fields: Record<string, unknown> = {}) { this.log.info(fields, event); }
  warn(event: string, fields: Record<string, unknown> = {}) { this.log.warn(fields, event); }
  error(event: string, fields: Record<string, unknown> = {}) { this.log.error(fields, event); }
}

/** Routes Nest's own messages through the JSON logger. */
export class NestJsonLogger implements LoggerService {
  private readonly json = new Logger('nest');
  private emit(level: 'debug' | 'info' | 'warn' | 'error', message: unknown, context?: unknown) {
    this.json[level]('nest_message', { message: String(message), context: context === undefined ? undefined : String(context) });
  }
  log(message: unknown, context?: unknown) { this.emit('info', message, context); }
  error(message: unknown, trace?: unknown, context?: unknown) { this.emit('error', message, context ?? trace); }
  warn(message: unknown, context?: unknown) { this.emit('warn', message, context); }
  debug(message: unknown, context?: unknown) { this.emit('debug', message, context); }
  verbose(message: unknown, context?: unknown) { this.emit('debug', message, context); }
}
