import { decodeEnvelope } from './decode-envelope';
import { validateEvent } from './validate-event';

const now = '2026-12-01T10:00:00.000Z';
const message = (over: Record<string, unknown>) => Buffer.from(JSON.stringify({ specversion: '1.0', id: 'e-1', tenant: 'acme', type: 'order.created', source: '/shop', subject: 's-1', time: now, receivedAt: now, data: { n: 1 }, ...over }));
const error = (over: Record<string, unknown>) => {
  const d = decodeEnvelope(message(over));
  return d.ok ? null : d.error;
};

describe('decodeEnvelope: the gateway limits, for messages from any producer', () => {
  it('decodes an envelope the gateway writes', () => {
    const d = decodeEnvelope(message({}));
    expect(d).toEqual({ ok: true, raw: expect.any(String), envelope: expect.objectContaining({ id: 'e-1', tenant: 'acme', subject: 's-1', data: { n: 1 }, extensions: {} }) });
  });

  it('refuses ids, subjects, sources and keys Postgres could not index, naming the field', () => {
    expect(error({ id: 'x'.repeat(3000) })).toBe("envelope field 'id' must be 1-128 characters");
    expect(error({ subject: 's'.repeat(3000) })).toBe("envelope field 'subject' must be 1-256 characters");
    expect(error({ source: 's'.repeat(5000) })).toBe("envelope field 'source' must be 1-1024 characters");
    expect(error({ partitionkey: 'k'.repeat(300) })).toBe("envelope field 'partitionkey' must be 1-256 characters");
    expect(error({ type: 'no spaces allowed' })).toMatch(/^envelope field 'type' must match/);
    expect(error({ tenant: 'Not A Tenant' })).toMatch(/^envelope field 'tenant' must match/);
  });

  it('refuses times Postgres has no year for: 0000, beyond 9999, or pushed there by the offset', () => {
    expect(error({ time: '0000-01-01T00:00:00Z' })).toBe("envelope field 'time' must be between years 0001 and 9999 (UTC)");
    expect(error({ time: '0001-01-01T00:30:00+01:00' })).toBe("envelope field 'time' must be between years 0001 and 9999 (UTC)");
    expect(error({ receivedAt: '-100000-01-01T00:00:00.000Z' })).toMatch(/^envelope field 'receivedAt' must be an RFC 3339/);
    expect(error({ time: '0001-01-01T00:00:00Z' })).toBeNull();
    expect(error({ time: '9999-12-31T23:59:59Z' })).toBeNull();
    // JavaScript reads these as March 2 and 1; Postgres refuses them.
    expect(error({ time: '2026-02-30T00:00:00Z' })).toMatch(/must be an RFC 3339/);
    expect(error({ time: '2027-02-29T00:00:00Z' })).toMatch(/must be an RFC 3339/);
    expect(error({ time: '2028-02-29T00:00:00Z' })).toBeNull();
    expect(error({ time: '2026-04-31T00:00:00Z' })).toMatch(/must be an RFC 3339/);
  });

  it('refuses text Postgres cannot store, and values that are not an envelope', () => {
    expect(error({ data: { s: 'a\u0000b' } })).toMatch(/NUL/);
    expect(decodeEnvelope(Buffer.from('[1,2]'))).toEqual({ ok: false, error: 'value is not a JSON object' });
    expect(decodeEnvelope(null)).toEqual({ ok: false, error: 'empty message value' });
    expect(error({ extensions: [1] })).toBe("envelope field 'extensions' is not an object");
  });

  it('applies the same time rule as the gateway', () => {
    const r = validateEvent({ type: 'a', time: '0000-06-01T00:00:00Z' }, '', { cloudEvents: false });
    expect(r).toEqual({ ok: false, errors: [{ path: '/time', message: 'must be between years 0001 and 9999 (UTC)' }] });
  });
});
