import { randomBytes } from 'crypto';
import { Platform, waitFor } from './harness/platform';

/** Jaeger's query API (v1 JSON), as an operator would use it. */
const JAEGER = process.env.JAEGER_QUERY_URL ?? 'http://127.0.0.1:16686';

interface JaegerSpan {
  spanID: string;
  operationName: string;
  startTime: number;
  processID: string;
  references: { refType: string; spanID: string; traceID: string }[];
  tags: { key: string; value: unknown }[];
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

const service = (t: JaegerTrace, s: JaegerSpan) => t.processes[s.processID].serviceName;
const tag = (s: JaegerSpan, key: string) => s.tags.find((x) => x.key === key)?.value;
const parentOf = (s: JaegerSpan) => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

async function traceById(id: string): Promise<JaegerTrace | undefined> {
  const r = await fetch(`${JAEGER}/api/traces/${id}`);
  if (r.status !== 200) return undefined;
  return ((await r.json()) as { data: JaegerTrace[] }).data[0];
}

/** The whole path must be in the trace: gateway HTTP + produce, processor process + its store write. */
function complete(t: JaegerTrace | undefined, eventId: string) {
  if (!t) return undefined;
  const names = t.spans.map((s) => `${service(t, s)}:${s.operationName}`);
  const processed = t.spans.find((s) => service(t, s) === 'tributary-processor' && s.operationName.startsWith('process ') && tag(s, 'tributary.event_id') === eventId);
  const written = t.spans.find((s) => service(t, s) === 'tributary-processor' && s.operationName === 'event store write');
  const post = t.spans.find((s) => service(t, s) === 'tributary-gateway' && /^POST/.test(s.operationName));
  const send = t.spans.find((s) => service(t, s) === 'tributary-gateway' && s.operationName.startsWith('send '));
  return processed && written && post && send ? { t, names, processed, written, post, send } : undefined;
}

/** SQL text of a pg client span, under either generation of the semantic conventions. */
const sqlOf = (s: JaegerSpan) => String(tag(s, 'db.query.text') ?? tag(s, 'db.statement') ?? '');

/**
 * The batch the event was applied in: its own trace (the event span links to it), holding the
 * real SQL of the transaction as spans of @opentelemetry/instrumentation-pg under the batch span.
 */
async function batchOf(processed: JaegerSpan) {
  const link = processed.references.find((r) => r.refType === 'FOLLOWS_FROM');
  if (!link) throw new Error('the event span has no link to its batch span');
  const t = await traceById(link.traceID);
  const batch = t?.spans.find((s) => s.spanID === link.spanID);
  if (!t || !batch) return undefined;
  // Spans below the batch span, at any depth (a query may sit under the pool's connect span).
  const below = new Set([batch.spanID]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of t.spans) if (!below.has(s.spanID) && below.has(parentOf(s) ?? '')) { below.add(s.spanID); grew = true; }
  }
  const sql = t.spans.filter((s) => s !== batch && below.has(s.spanID) && (tag(s, 'db.system.name') ?? tag(s, 'db.system')) === 'postgresql' && sqlOf(s));
  const find = (re: RegExp) => sql.find((s) => re.test(sqlOf(s).trim()));
  // The events rows go in by COPY (pg-copy-streams, which the instrumentation does not see); the
  // id claim, the stream heads and the checkpoint are plain queries of the same transaction.
  const spans = { begin: find(/^BEGIN$/), claim: find(/^INSERT INTO event_ids\b/), streams: find(/^UPDATE streams\b/), checkpoint: find(/^UPDATE consumer_checkpoints\b/), commit: find(/^COMMIT$/) };
  return Object.values(spans).every(Boolean) ? { t, batch, sql, ...(spans as Record<keyof typeof spans, JaegerSpan>) } : undefined;
}

describe('tracing: one Jaeger trace per event, HTTP to SQL', () => {
  const p = new Platform('tracing');
  let key: string;

  beforeAll(async () => {
    await p.start();
    key = await p.tenant('traced');
  });
  afterAll(() => p.stop());

  it('finds the event by its id in Jaeger, with gateway and processor spans, and the batch span holding the real SQL', async () => {
    const id = `trace-me-${randomBytes(4).toString('hex')}`;
    expect((await p.request('POST', '/v1/events', { key, body: { id, type: 'order.created', subject: 'order-7' } })).status).toBe(202);

    const found = await waitFor('the event trace in Jaeger', async () => {
      const tags = encodeURIComponent(JSON.stringify({ 'tributary.event_id': id }));
      const r = await fetch(`${JAEGER}/api/traces?service=tributary-processor&tags=${tags}&limit=5&lookback=1h`);
      const traces = ((await r.json()) as { data: JaegerTrace[] }).data ?? [];
      return traces.length === 1 ? complete(await traceById(traces[0].traceID), id) : undefined;
    }, 30000, 500);

    // Chain: process ← send ← POST, and the store write mark under the process span.
    expect(parentOf(found.processed)).toBe(found.send.spanID);
    expect(found.send.references.length).toBeGreaterThan(0);
    expect(parentOf(found.written)).toBe(found.processed.spanID);
    expect(tag(found.processed, 'messaging.system')).toBe('kafka');
    expect(tag(found.processed, 'messaging.destination.name')).toBe(p.topic);
    expect(typeof tag(found.processed, 'messaging.kafka.offset')).toBe('number');
    expect(tag(found.processed, 'tributary.tenant')).toBe('traced');

    // The SQL itself, from the pg driver's instrumentation, under the batch span the event span
    // links to: one transaction claiming the ids, numbering the streams, advancing the checkpoint.
    const batch = await waitFor('the batch trace with its SQL spans', () => batchOf(found.processed), 30000, 500);
    expect(batch.batch.operationName).toBe(`process ${p.topic}`);
    expect(tag(found.written, 'tributary.batch_span_id')).toBe(batch.batch.spanID);
    expect(tag(batch.batch, 'messaging.destination.partition.id')).toBe(String(tag(found.processed, 'messaging.destination.partition.id')));
    const offset = Number(tag(found.processed, 'messaging.kafka.offset'));
    expect(Number(tag(batch.batch, 'tributary.first_offset'))).toBeLessThanOrEqual(offset);
    expect(Number(tag(batch.batch, 'tributary.last_offset'))).toBeGreaterThanOrEqual(offset);
    const at = (s: JaegerSpan) => s.startTime;
    expect(at(batch.begin)).toBeGreaterThanOrEqual(at(batch.batch));
    expect(at(batch.claim)).toBeGreaterThan(at(batch.begin));
    expect(at(batch.checkpoint)).toBeGreaterThan(at(batch.claim));
    expect(at(batch.commit)).toBeGreaterThan(at(batch.checkpoint));
    expect(tag(batch.claim, 'db.namespace')).toBeDefined();
  });

  it("continues the client's own traceparent", async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const id = `client-traced-${randomBytes(4).toString('hex')}`;
    const r = await p.request('POST', '/v1/events', { key, body: { id, type: 'order.paid' }, headers: { traceparent: `00-${traceId}-${clientSpan}-01` } });
    expect(r.status).toBe(202);

    const found = await waitFor('the client trace in Jaeger', async () => complete(await traceById(traceId), id), 30000, 500);
    expect(found.t.traceID).toBe(traceId);
    // The API hands out the trace id with the event, so operators can go from an id to its trace.
    expect((await p.request('GET', `/v1/events/${id}`, { key })).body.traceId).toBe(traceId);
    // The gateway's server span is the child of the client's span.
    expect(parentOf(found.post)).toBe(clientSpan);
  });

  it('keeps the trace of every event when the processor applies thousands in one batch', async () => {
    // Queued while no processor runs, so the processor takes them in batches of 2,000: 4,000 spans
    // at once, more than the SDK's default span queue (2,048) holds.
    await p.terminateProcessor(0);
    const run = randomBytes(4).toString('hex');
    const ids = Array.from({ length: 3000 }, (_, i) => `bulk-${run}-${i}`);
    for (let i = 0; i < ids.length; i += 1000) {
      const body = ids.slice(i, i + 1000).map((id, j) => ({ id, type: 'order.created', subject: `bulk-${j % 7}` }));
      expect((await p.request('POST', '/v1/events', { key, body })).status).toBe(202);
    }
    await p.startProcessor(0);
    await waitFor('all applied', async () => (await p.db.query(`SELECT count(*)::int AS n FROM events WHERE event_id LIKE $1`, [`bulk-${run}-%`])).rows[0].n === ids.length || undefined, 60000, 200);

    for (const id of [0, 999, 1000, 1500, 1999, 2000, 2500, 2999].map((i) => ids[i])) {
      await waitFor(`the process span of ${id} in Jaeger`, async () => {
        const tags = encodeURIComponent(JSON.stringify({ 'tributary.event_id': id }));
        const r = await fetch(`${JAEGER}/api/traces?service=tributary-processor&tags=${tags}&limit=5&lookback=1h`);
        const traces = ((await r.json()) as { data: JaegerTrace[] }).data ?? [];
        return traces.some((t) => t.spans.some((s) => s.operationName.startsWith('process ') && tag(s, 'tributary.event_id') === id)) || undefined;
      }, 30000, 500);
    }
  });
});
