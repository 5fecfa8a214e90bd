import { memberText } from './json-member';

describe('memberText', () => {
  it('returns the value text exactly as written, numbers with every digit', () => {
    const raw = '{"id":"a","data":{"n":12345678901234567890,"x":1.10,"s":"q\\"}{"},"type":"t"}';
    expect(memberText(raw, 'data')).toBe('{"n":12345678901234567890,"x":1.10,"s":"q\\"}{"}');
    expect(memberText(raw, 'type')).toBe('"t"');
  });

  it('handles whitespace, arrays, scalars, escaped keys, repeated keys and absence', () => {
    expect(memberText(' {\n "data" :\t[1, {"a": [2]}, "]"] ,"z":0}', 'data')).toBe('[1, {"a": [2]}, "]"]');
    expect(memberText('{"data":null}', 'data')).toBe('null');
    expect(memberText('{"data":-1.5e3}', 'data')).toBe('-1.5e3');
    expect(memberText('{"data":true }', 'data')).toBe('true');
    expect(memberText('{"d\\u0061ta":"esc"}', 'data')).toBe('"esc"');
    expect(memberText('{"data":1,"data":2}', 'data')).toBe('2');
    expect(memberText('{"s":"\\\\","data":"\\\\\\""}', 'data')).toBe('"\\\\\\""');
    expect(memberText('{"x":{"data":1}}', 'data')).toBeUndefined();
    expect(memberText('{}', 'data')).toBeUndefined();
    expect(memberText('[1]', 'data')).toBeUndefined();
  });

  it('agrees with JSON.parse on random documents', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const chars = ['a', '"', '\\', '{', '}', '[', ']', ',', ':', ' ', '\n', 'é', '\u2028'];
    const str = () => Array.from({ length: Math.floor(rnd() * 6) }, () => chars[Math.floor(rnd() * chars.length)]).join('');
    const value = (depth: number): unknown => {
      const k = Math.floor(rnd() * (depth > 3 ? 4 : 6));
      if (k === 0) return str();
      if (k === 1) return Math.round(rnd() * 1e6) / 100;
      if (k === 2) return rnd() < 0.5 ? null : rnd() < 0.5;
      if (k === 3) return -Math.floor(rnd() * 1000);
      if (k === 4) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, () => [str(), value(depth + 1)]));
    };
    for (let n = 0; n < 2000; n++) {
      const doc: Record<string, unknown> = Object.fromEntries(Array.from({ length: Math.floor(rnd() * 4) }, () => [str(), value(0)]));
      if (rnd() < 0.8) doc.data = value(0);
      const text = JSON.stringify(doc, null, rnd() < 0.3 ? 2 : undefined);
      const got = memberText(text, 'data');
      if (!('data' in doc)) expect(got).toBeUndefined();
      else expect(JSON.parse(got!)).toEqual(doc.data);
    }
  });
});
