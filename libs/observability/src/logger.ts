import type { LoggerService } from '@nestjs/common';

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const threshold = ORDER[(process.env.LOG_LEVEL as Level) ?? 'info'] ?? ORDER.info;

/**
 * JSON-lines logger: one object per line with a stable snake_case `event` name and structured
 * fields. Never pass secrets (API keys, tokens) as fields.
 */
export class Logger {
  constructor(private readonly component: string) {}

  private write(level: Level, event: string, fields: Record<string, unknown>) {
    if (ORDER[level] < threshold) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level, component: this.component, event, ...fields });
    (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(line + '\n');
  }

  debug(event: string, fields: Record<string, unknown> = {}) { this.write('debug', event, fields); }
  info(event: string, fields: Record<string, unknown> = {}) { this.write('info', event, fields); }
  warn(event: string, fields: Record<string, unknown> = {}) { this.write('warn', event, fields); }
  error(event: string, fields: Record<string, unknown> = {}) { this.write('error', event, fields); }
}

/** Routes Nest's own messages through the JSON logger. */
export class NestJsonLogger implements LoggerService {
  private readonly json = new Logger('nest');
  private emit(level: Level, message: unknown, context?: unknown) {
    this.json[level]('nest_message', { message: String(message), context: context === undefined ? undefined : String(context) });
  }
  log(message: unknown, context?: unknown) { this.emit('info', message, context); }
  error(message: unknown, trace?: unknown, context?: unknown) { this.emit('error', message, context ?? trace); }
  warn(message: unknown, context?: unknown) { this.emit('warn', message, context); }
  debug(message: unknown, context?: unknown) { this.emit('debug', message, context); }
  verbose(message: unknown, context?: unknown) { this.emit('debug', message, context); }
}
