import type { EventEnvelope } from './envelope';
import { mayHoldUnstorable, unstorableText } from './storable';
import { TENANT_ID } from './tenant';
import { ATTRIBUTE_RULES } from './validate-event';

export type DecodedEnvelope = { ok: true; envelope: EventEnvelope; raw: string } | { ok: false; error: string };

const REQUIRED = ['tenant', 'id', 'type', 'source', 'time', 'receivedAt'] as const;
const OPTIONAL = ['subject', 'partitionkey', 'datacontenttype'] as const;
type Rule = (v: string) => string | null;
const RULES: Record<string, Rule> = { ...ATTRIBUTE_RULES, receivedAt: ATTRIBUTE_RULES.time, tenant: (v) => (TENANT_ID.test(v) ? null : `must match ${TENANT_ID.source}`) };

/**
 * The one decoder of a message on the events topic (processor, `rebuild --source kafka`): an
 * error when it is not an envelope the gateway would have written. Messages come from any
 * producer with access to the topic, so every attribute is held to the gateway's limits here:
 * whatever passes can be stored (lengths within Postgres's index row limit, years 0001-9999, no
 * text Postgres cannot hold), and whatever fails is dead-lettered with stage 'decode'.
 */
export function decodeEnvelope(value: Buffer | null | undefined): DecodedEnvelope {
  if (!value) return { ok: false, error: 'empty message value' };
  const raw = value.toString('utf8');
  let v: any;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    return { ok: false, error: `value is not JSON: ${(e as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: 'value is not a JSON object' };
  for (const f of REQUIRED) {
    if (typeof v[f] !== 'string') return { ok: false, error: `envelope field '${f}' is missing or not a string` };
    const problem = RULES[f](v[f]);
    if (problem) return { ok: false, error: `envelope field '${f}' ${problem}` };
  }
  for (const f of OPTIONAL) {
    if (v[f] === undefined || v[f] === null) continue;
    if (typeof v[f] !== 'string') return { ok: false, error: `envelope field '${f}' is not a string` };
    const problem = RULES[f](v[f]);
    if (problem) return { ok: false, error: `envelope field '${f}' ${problem}` };
  }
  if (v.extensions !== undefined && v.extensions !== null && (typeof v.extensions !== 'object' || Array.isArray(v.extensions))) {
    return { ok: false, error: "envelope field 'extensions' is not an object" };
  }
  // Text Postgres cannot store would fail the batch forever. The gateway refuses it; from other
  // producers it is kept (escaped) in dead_letters.payload only.
  const unstorable = mayHoldUnstorable(raw) ? unstorableText(v) : null;
  if (unstorable) return { ok: false, error: `${unstorable.at || '/'} ${unstorable.message}: Postgres cannot store it` };
  return {
    ok: true,
    raw,
    envelope: {
      specversion: '1.0',
      id: v.id,
      tenant: v.tenant,
      type: v.type,
      source: v.source,
      subject: v.subject ?? null,
      time: v.time,
      receivedAt: v.receivedAt,
      datacontenttype: v.datacontenttype ?? null,
      data: v.data ?? null,
      partitionkey: v.partitionkey ?? null,
      extensions: v.extensions ?? {},
    },
  };
}
