import { Body, Controller, Delete, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ROLES, Role } from '@tributary/auth/api-keys';
import { ErrorCode, FieldError, TributaryError } from '@tributary/contracts/errors';
import { TenantsRepository } from '@tributary/store/tenants.repository';
import { AuthGuard, OperatorOnly } from '../http/auth.guard';
import { invalid, jsonObjectBody } from '../http/body';

import { TENANT_ID } from '@tributary/contracts/tenant';

/** Operator endpoints: tenants and their API keys. */
@Controller('v1/admin/tenants')
@UseGuards(AuthGuard)
@OperatorOnly()
export class AdminController {
  constructor(private readonly tenants: TenantsRepository) {}

  @Post()
  @HttpCode(201)
  async createTenant(@Body() body: unknown) {
    const b = jsonObjectBody(body);
    const errors: FieldError[] = [];
    if (typeof b.id !== 'string') errors.push({ path: '/id', message: 'is required and must be a string' });
    else if (!TENANT_ID.test(b.id)) errors.push({ path: '/id', message: 'must match ^[a-z0-9][a-z0-9-]{1,62}$' });
    if (b.name !== undefined && (typeof b.name !== 'string' || b.name.length > 200)) errors.push({ path: '/name', message: 'must be a string of at most 200 characters' });
    if (errors.length) throw invalid(errors);
    const t = await this.tenants.create(b.id as string, (b.name as string | undefined) ?? (b.id as string));
    if (!t) throw new TributaryError(ErrorCode.Conflict, `tenant '${b.id}' already exists`);
    return t;
  }

  @Post(':tenant/keys')
  @HttpCode(201)
  async createKey(@Param('tenant') tenant: string, @Body() body: unknown) {
    const b = jsonObjectBody(body);
    const errors: FieldError[] = [];
    const roles = b.roles;
    if (!Array.isArray(roles) || roles.length === 0) errors.push({ path: '/roles', message: `must be a non-empty array of ${ROLES.join(', ')}` });
    else roles.forEach((r, i) => { if (!ROLES.includes(r)) errors.push({ path: `/roles/${i}`, message: `must be one of ${ROLES.join(', ')}` }); });
    if (b.name !== undefined && typeof b.name !== 'string') errors.push({ path: '/name', message: 'must be a string' });
    if (errors.length) throw invalid(errors);
    if (!(await this.tenants.exists(tenant))) throw new TributaryError(ErrorCode.NotFound, `tenant '${tenant}' does not exist`);
    return this.tenants.createKey(tenant, [...new Set(roles as Role[])], (b.name as string | undefined) ?? null);
  }

  @Delete(':tenant/keys/:id')
  @HttpCode(204)
  async revokeKey(@Param('tenant') tenant: string, @Param('id') id: string) {
    if (!(await this.tenants.revokeKey(tenant, id))) throw new TributaryError(ErrorCode.NotFound, `no live key '${id}' for tenant '${tenant}'`);
  }
}
