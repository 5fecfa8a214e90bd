import { hash } from 'crypto';
import { Inject, Injectable } from '@nestjs/common';
import { isWellFormedApiKey, Principal, Role, tokenMatches } from '@tributary/auth/api-keys';
import type { GatewayConfig } from '@tributary/config/config';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { LruCache } from '@tributary/contracts/lru-cache';
import { SingleFlight } from '@tributary/contracts/single-flight';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { GATEWAY_CONFIG, KEY_LOOKUP } from '../tokens';

type Headers = Record<string, string | string[] | undefined>;

const BEARER = /^bearer\s+/i;

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Headers): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && BEARER.test(auth)) return auth.replace(BEARER, '').trim() || null;
  const x = headers['x-api-key'];
  return typeof x === 'string' && x.trim() ? x.trim() : null;
}

const MISSING = 'an API key is required (Authorization: Bearer <key> or X-API-Key)';
const INVALID = 'the API key is not valid';

/**
 * Who a request is: the one place that checks API keys and the operator token, for the Nest
 * routes (AuthGuard) and the plain ingest route alike. It only reads headers, so the ingest path
 * calls it before reading the body.
 *
 * Cost to an attacker's request: a key that does not have the minted format is refused without
 * a query. A well-formed key is looked up by its SHA-256 (only hashes are kept in memory) on the
 * key pool (DATABASE_KEY_POOL_SIZE connections of its own, so a busy main pool cannot stop
 * authentication); concurrent lookups of one key share one query. Found keys and unknown keys
 * are cached in two separate LRUs, so a stream of random keys only ever evicts other random
 * keys: the keys tenants really use stay cached (until TRIBUTARY_KEY_CACHE_MS, within which a
 * revocation takes effect).
 */
@Injectable()
export class ApiKeyAuth {
  private readonly known: LruCache<string, { principal: Principal; until: number }>;
  private readonly unknown: LruCache<string, number>;
  private readonly lookups = new SingleFlight<string, Principal | null>();

  constructor(@Inject(KEY_LOOKUP) private readonly tenants: TenantsRepository, @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig) {
    this.known = new LruCache(cfg.keyCacheSize);
    this.unknown = new LruCache(cfg.keyCacheSize);
  }

  /** The principal of a tenant key carrying `role`; throws 401/403 as a TributaryError. */
  async tenant(headers: Headers, role: Role): Promise<Principal> {
    const principal = await this.authenticated(headers);
    if (!principal.roles.includes(role)) throw new TributaryError(ErrorCode.Forbidden, `the API key lacks the '${role}' role`);
    return principal;
  }

  /** The principal of a live tenant key, whatever its roles; throws 401. */
  async authenticated(headers: Headers): Promise<Principal> {
    const key = presentedKey(headers);
    if (!key) throw new TributaryError(ErrorCode.Unauthorized, MISSING);
    if (!isWellFormedApiKey(key)) throw new TributaryError(ErrorCode.Unauthorized, INVALID);
    const principal = await this.principal(hash('sha256', key, 'base64'), key);
    if (!principal) throw new TributaryError(ErrorCode.Unauthorized, INVALID);
    return principal;
  }

  /** Throws 401 unless the request presents the operator token (TRIBUTARY_ADMIN_TOKEN). */
  operator(headers: Headers): void {
    const key = presentedKey(headers);
    if (!key) throw new TributaryError(ErrorCode.Unauthorized, MISSING);
    if (!tokenMatches(key, this.cfg.adminToken)) throw new TributaryError(ErrorCode.Unauthorized, 'the operator token is not valid');
  }

  private async principal(id: string, key: string): Promise<Principal | null> {
    const now = Date.now();
    const hit = this.known.get(id);
    if (hit && hit.until > now) return hit.principal;
    const miss = this.unknown.get(id);
    if (miss !== undefined && miss > now) return null;
    return this.lookups.run(id, async () => {
      const until = Date.now() + this.cfg.keyCacheMs;
      const principal = await this.tenants.findByKey(key);
      if (principal) {
        this.unknown.delete(id);
        this.known.set(id, { principal, until });
      } else {
        this.known.delete(id);
        this.unknown.set(id, until);
      }
      return principal;
    });
  }
}
