import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { hashApiKey, Principal, Role, tokenMatches } from '@tributary/auth/api-keys';
import type { GatewayConfig } from '@tributary/config/config';
import { ErrorCode, TributaryError } from '@tributary/contracts/errors';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { GATEWAY_CONFIG } from '../tokens';

const ROLE_KEY = 'tributary:role';
const ADMIN_KEY = 'tributary:operator';

/** The route needs a tenant API key carrying this role. */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);
/** The route needs the operator token (TRIBUTARY_ADMIN_TOKEN). */
export const OperatorOnly = () => SetMetadata(ADMIN_KEY, true);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return (ctx.switchToHttp().getRequest() as FastifyRequest & { principal: Principal }).principal;
});

function presentedKey(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim() || null;
  const x = req.headers['x-api-key'];
  return typeof x === 'string' && x.trim() ? x.trim() : null;
}

// Positive and negative lookups are cached briefly; a revoked key stops working within this time.
const KEY_CACHE_MS = 2000;

@Injectable()
export class AuthGuard implements CanActivate {
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();

  constructor(
    private readonly reflector: Reflector,
    private readonly tenants: TenantsRepository,
    @Inject(GATEWAY_CONFIG) private readonly cfg: GatewayConfig,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const role = this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, [ctx.getHandler(), ctx.getClass()]);
    const operator = this.reflector.getAllAndOverride<boolean | undefined>(ADMIN_KEY, [ctx.getHandler(), ctx.getClass()]);
    if (!role && !operator) return true;

    const req = ctx.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    const key = presentedKey(req);
    if (!key) throw new TributaryError(ErrorCode.Unauthorized, 'an API key is required (Authorization: Bearer <key> or X-API-Key)');

    if (operator) {
      if (!tokenMatches(key, this.cfg.adminToken)) throw new TributaryError(ErrorCode.Unauthorized, 'the operator token is not valid');
      return true;
    }
    const principal = await this.lookup(key);
    if (!principal) throw new TributaryError(ErrorCode.Unauthorized, 'the API key is not valid');
    if (!principal.roles.includes(role!)) throw new TributaryError(ErrorCode.Forbidden, `the API key lacks the '${role}' role`);
    req.principal = principal;
    return true;
  }

  private async lookup(key: string): Promise<Principal | null> {
    const now = Date.now();
    const id = hashApiKey(key).toString('base64');
    const hit = this.cache.get(id);
    if (hit && hit.until > now) return hit.principal;
    const principal = await this.tenants.findByKey(key);
    if (this.cache.size > 10000) this.cache.clear();
    this.cache.set(id, { principal, until: now + KEY_CACHE_MS });
    return principal;
  }
}
