import { hash } from 'crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Principal, Role, tokenMatches } from '@tributary/auth/api-keys';
import type { GatewayConfig } from '@tributary/config/config';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { GATEWAY_CONFIG } from '../tokens';

type Headers = Record<string, string | string[] | undefined>;

const BEARER = /^bearer\s+/i;

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Headers): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && BEARER.test(auth)) return auth.replace(BEARER, '').trim() || null;
  const x = headers['x-api-key'];
  return typeof x === 'string' && x.trim() ? x.trim() : null;
}

// Positive and negative lookups are cached briefly; a revoked key stops working within this time.
const KEY_CACHE_MS = 2000;

interface Cached {
  principal: Principal | null;
  until: number;
}

/**
 * Who a request is: the one place that checks API keys and the operator token, for the Nest
 * routes (AuthGuard) and the plain Fastify ingest route alike. Keys are looked up by their
 * SHA-256 (only hashes are kept in memory) through a short cache; concurrent misses for one key
 * share one database lookup.
 */
@Injectable()
export class ApiKeyAuth {
  private readonly cache = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<Principal | null>>();

  constructor(private readonly tenants: TenantsRepository, @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig) {}

  /** The principal of a tenant key carrying `role`; throws 401/403 as a TributaryError. */
  async tenant(headers: Headers, role: Role): Promise<Principal> {
    const key = presentedKey(headers);
    if (!key) throw new TributaryError(ErrorCode.Unauthorized, 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
    const id = hash('sha256', key, 'base64');
    const hit = this.cache.get(id);
    const principal = hit && hit.until > Date.now() ? hit.principal : await this.lookup(id, key);
    if (!principal) throw new TributaryError(ErrorCode.Unauthorized, 'the API key is not valid');
    if (!principal.roles.includes(role)) throw new TributaryError(ErrorCode.Forbidden, `the API key lacks the '${role}' role`);
    return principal;
  }

  /** Throws 401 unless the request presents the operator token (TRIBUTARY_ADMIN_TOKEN). */
  operator(headers: Headers): void {
    const key = presentedKey(headers);
    if (!key) throw new TributaryError(ErrorCode.Unauthorized, 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
    if (!tokenMatches(key, this.cfg.adminToken)) throw new TributaryError(ErrorCode.Unauthorized, 'the operator token is not valid');
  }

  private lookup(id: string, key: string): Promise<Principal | null> {
    let p = this.pending.get(id);
    if (!p) {
      const until = Date.now() + KEY_CACHE_MS;
      p = this.tenants.findByKey(key).then(
        (principal) => {
          this.pending.delete(id);
          if (this.cache.size > 10000) this.cache.clear();
          this.cache.set(id, { principal, until });
          return principal;
        },
        (e: unknown) => {
          this.pending.delete(id);
          throw e;
        },
      );
      this.pending.set(id, p);
    }
    return p;
  }
}
