import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'crypto';

export const ROLES = ['ingest', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  tenant: string;
  keyId: string;
  roles: Role[];
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
