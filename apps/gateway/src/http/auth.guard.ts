import { CanActivate, ExecutionContext, Injectable, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import type { Principal, Role } from '@tributary/auth/api-keys';
import { ApiKeyAuth } from './api-keys';
import { TenantLimits } from './tenant-limits';

const ROLE_KEY = 'tributary:role';
const ADMIN_KEY = 'tributary:operator';

/** The route needs a tenant API key carrying this role. */
export const RequireRole = (role: Role) => SetMetadata(ROLE_KEY, role);
/** The route needs the operator token (TRIBUTARY_ADMIN_TOKEN). */
export const OperatorOnly = () => SetMetadata(ADMIN_KEY, true);

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return (ctx.switchToHttp().getRequest() as FastifyRequest & { principal: Principal }).principal;
});

/**
 * Auth for the Nest routes, by their RequireRole / OperatorOnly metadata (the checks live in
 * ApiKeyAuth), then the tenant's rate limit for what the role does: a `read` route costs a read
 * token, an `admin` route (schema writes, dead-letter actions) an admin token, before any query.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector, private readonly auth: ApiKeyAuth, private readonly limits: TenantLimits) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const role = this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, [ctx.getHandler(), ctx.getClass()]);
    const operator = this.reflector.getAllAndOverride<boolean | undefined>(ADMIN_KEY, [ctx.getHandler(), ctx.getClass()]);
    if (!role && !operator) return true;

    const req = ctx.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
    if (operator) {
      this.auth.operator(req.headers);
      return true;
    }
    req.principal = await this.auth.tenant(req.headers, role!);
    this.limits.take(role!, req.principal.tenant);
    return true;
  }
}
