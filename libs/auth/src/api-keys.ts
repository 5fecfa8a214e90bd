import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'crypto';

export const ROLES = ['ingest', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  tenant: string;
  keyId: string;
  roles: Role[];
}

/**
 * What every minted key looks like: `trb_` and 32 random bytes in base64url (43 characters, no
 * padding). Anything else cannot be a key, so it is refused without asking the database.
 */
export const API_KEY_FORMAT = /^trb_[A-Za-z0-9_-]{43}$/;

export function isWellFormedApiKey(key: string): boolean {
  return key.length === 47 && API_KEY_FORMAT.test(key);
}

/** A new API key: the secret is returned once, only its SHA-256 is stored. */
export function generateApiKey(): { id: string; key: string; hash: Buffer } {
  const key = `trb_${randomBytes(32).toString('base64url')}`;
  return { id: randomUUID(), key, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Constant-time comparison for the operator token. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
