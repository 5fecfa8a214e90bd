import { context, trace, TraceFlags } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

describe('logger', () => {
  const lines: string[] = [];
  let write: typeof process.stdout.write;
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    write = process.stdout.write;
    process.stdout.write = ((chunk: string) => { lines.push(String(chunk)); return true; }) as typeof process.stdout.write;
  });
  afterAll(() => { process.stdout.write = write; });

  it('writes one JSON line with event name, fields, trace ids, and redacts secrets', async () => {
    const { Logger } = await import('./logger');
    const span = trace.wrapSpanContext({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED });
    context.with(trace.setSpan(context.active(), span), () => {
      new Logger('test').info('event_accepted', { tenant: 'acme', event_id: 'e1', key: 'trb_secret' });
    });
    await new Promise((r) => setTimeout(r, 50));
    const line = JSON.parse(lines.find((l) => l.includes('event_accepted'))!);
    expect(line).toMatchObject({ level: 'info', component: 'test', event: 'event_accepted', tenant: 'acme', event_id: 'e1', trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', key: '[redacted]' });
    expect(JSON.stringify(line)).not.toContain('trb_secret');
  });
});
