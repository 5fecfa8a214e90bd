import { generateApiKey, isWellFormedApiKey } from './api-keys';

describe('API key format', () => {
  it('accepts every key it mints', () => {
    for (let i = 0; i < 200; i++) expect(isWellFormedApiKey(generateApiKey().key)).toBe(true);
  });

  it.each([
    ['no prefix', 'x'.repeat(47)],
    ['short', 'trb_unknown'],
    ['one character too long', `${generateApiKey().key}A`],
    ['padding', `trb_${'A'.repeat(42)}=`],
    ['not base64url', `trb_${'A'.repeat(42)}+`],
    ['whitespace', `trb_${'A'.repeat(42)} `],
    ['empty', ''],
  ])('refuses %s', (_, key) => {
    expect(isWellFormedApiKey(key)).toBe(false);
  });
});
