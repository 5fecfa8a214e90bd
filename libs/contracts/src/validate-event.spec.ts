import { validateEvent } from './validate-event';
import { decodeIngest } from './decode-ingest';
import { ErrorCode, TributaryError } from './errors';
import { mayHoldUnstorable, unstorableText } from './storable';

const plain = { cloudEvents: false };

describe('validateEvent', () => {
  it('accepts a minimal plain event and fills CloudEvents defaults', () => {
    const r = validateEvent({ type: 'order.created', data: { n: 1 } }, '', plain);
    expect(r).toEqual({
      ok: true,
      event: expect.objectContaining({ specversion: '1.0', id: null, type: 'order.created', source: '/tributary/gateway', subject: null, data: { n: 1 }, datacontenttype: 'application/json' }),
    });
  });

  it('names the missing type by its path inside a batch', () => {
    const r = validateEvent({ data: 1 }, '/events/3', plain);
    expect(r).toEqual({ ok: false, errors: [{ path: '/events/3/type', message: 'is required' }] });
  });

  it('reports every bad field, not only the first', () => {
    const r = validateEvent({ type: 'bad type!', time: 'yesterday', id: '', subject: 7 }, '', plain);
    expect(r.ok).toBe(false);
    const paths = (r as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual(['/id', '/subject', '/time', '/type']);
  });

  it('requires specversion, id and source for CloudEvents', () => {
    const r = validateEvent({ type: 'a' }, '', { cloudEvents: true });
    const paths = (r as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual(['/id', '/source', '/specversion']);
  });

  it('keeps extension attributes and refuses unknown or platform fields', () => {
    expect(validateEvent({ type: 'a', traceid: 'x1' }, '', plain)).toEqual({ ok: true, event: expect.objectContaining({ extensions: { traceid: 'x1' } }) });
    const r = validateEvent({ type: 'a', tenant: 'other', 'Bad-Field': 1 }, '', plain);
    expect((r as { errors: { path: string }[] }).errors.map((e) => e.path).sort()).toEqual(['/Bad-Field', '/tenant']);
  });

  it('refuses the NUL character anywhere, since Postgres cannot store it', () => {
    const r = validateEvent({ type: 'a', subject: 'x\u0000y', data: { deep: ['ok', 'bad\u0000'] } }, '/events/2', plain);
    expect(r).toEqual({ ok: false, errors: [
      { path: '/events/2/subject', message: 'must not contain the NUL character (\\u0000)' },
      { path: '/events/2/data/deep/1', message: 'must not contain the NUL character (\\u0000)' },
    ] });
  });

  it('refuses unpaired UTF-16 surrogates (valid JSON, but Postgres jsonb refuses them) and keeps paired ones', () => {
    const r = validateEvent(JSON.parse('{"type":"a","data":{"name":"x\\ud800y","ok":"\\ud83d\\ude00"}}'), '', plain);
    expect(r).toEqual({ ok: false, errors: [{ path: '/data/name', message: 'must not contain unpaired UTF-16 surrogates (e.g. \\ud800)' }] });
    expect(validateEvent({ type: 'a', data: { ok: '😀' } }, '', plain).ok).toBe(true);
  });

  it('normalises time to UTC', () => {
    const r = validateEvent({ type: 'a', time: '2026-01-31T13:00:00+01:00' }, '', plain);
    expect(r).toEqual({ ok: true, event: expect.objectContaining({ time: '2026-01-31T12:00:00.000Z' }) });
  });
});

describe('decodeIngest', () => {
  const json = (v: unknown, type = 'application/json') => decodeIngest({ 'content-type': type }, Buffer.from(JSON.stringify(v)));

  it('reads one event, an array, and {events: [...]} with the right paths', () => {
    expect(json({ type: 'a' }).items.map((i) => i.path)).toEqual(['']);
    expect(json([{ type: 'a' }, { type: 'b' }]).items.map((i) => i.path)).toEqual(['/0', '/1']);
    expect(json({ events: [{ type: 'a' }] }).items.map((i) => i.path)).toEqual(['/events/0']);
  });

  it('rejects malformed JSON, other media types and oversized batches with their codes', () => {
    const code = (f: () => unknown) => {
      try { f(); } catch (e) { return (e as TributaryError).code; }
      return 'no error';
    };
    expect(code(() => decodeIngest({ 'content-type': 'application/json' }, Buffer.from('{"type":')))).toBe(ErrorCode.MalformedJson);
    expect(code(() => decodeIngest({ 'content-type': 'text/plain' }, Buffer.from('hi')))).toBe(ErrorCode.UnsupportedMediaType);
    expect(code(() => json(Array.from({ length: 1001 }, () => ({ type: 'a' }))))).toBe(ErrorCode.PayloadTooLarge);
  });

  it('maps CloudEvents binary mode headers to attributes and the body to data', () => {
    const d = decodeIngest(
      { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'e1', 'ce-type': 't', 'ce-source': '/s', 'ce-subject': 'sub' },
      Buffer.from('{"x":1}'),
    );
    expect(d).toEqual({ batch: false, cloudEvents: true, items: [{ path: '', bytes: 7, raw: { specversion: '1.0', id: 'e1', type: 't', source: '/s', subject: 'sub', data: { x: 1 }, datacontenttype: 'application/json' } }] });
  });

  it('reads a CloudEvents batch', () => {
    expect(json([{ type: 'a' }], 'application/cloudevents-batch+json')).toMatchObject({ batch: true, cloudEvents: true });
  });
});

describe('unstorableText', () => {
  it('points at the first string Postgres cannot store, keys included', () => {
    expect(unstorableText({ a: [1, { 'x/y~': 'ok', b: 'n\u0000' }] }, '/data')).toEqual({ at: '/data/a/1/b', message: 'must not contain the NUL character (\\u0000)' });
    expect(unstorableText({ ['k\ud800']: 1 })).toEqual({ at: '/k\ud800', message: 'must not contain unpaired UTF-16 surrogates (e.g. \\ud800)' });
    expect(unstorableText({ 'x/y~': ['\udc00'] })).toEqual({ at: '/x~1y~0/0', message: 'must not contain unpaired UTF-16 surrogates (e.g. \\ud800)' });
    expect(unstorableText({ a: 'fine \ud83d\ude00' })).toBeNull();
    expect(mayHoldUnstorable(JSON.stringify({ a: '\u0000' }))).toBe(true);
    expect(mayHoldUnstorable(JSON.stringify({ a: '\ud800' }))).toBe(true);
    expect(mayHoldUnstorable(JSON.stringify({ a: 'plain "quoted" \\ text é \ud83d\ude00' }))).toBe(false);
  });
});
