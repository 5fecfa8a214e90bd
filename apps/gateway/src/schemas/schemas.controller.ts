import { Body, Controller, Put, UseGuards } from '@nestjs/common';
import { Param } from '@nestjs/common';
import type { Principal } from '@tributary/auth/api-keys';
import { schemaChecker, SCHEMA_LIMITS } from '@tributary/contracts/tenant-schema';
import { LIMITS } from '@tributary/contracts/validate-event';
import { SchemasRepository } from '@tributary/store/schemas.repository';
import { AuthGuard, CurrentPrincipal, RequireRole } from '../http/auth.guard';
import { invalid, jsonObjectBody } from '../http/body';

/** Per-tenant JSON Schemas for event data, by type: enforced at ingest (422) and in the processor. */
@Controller('v1/schemas')
@UseGuards(AuthGuard)
export class SchemasController {
  constructor(private readonly schemas: SchemasRepository) {}

  @Put(':type')
  @RequireRole('admin')
  async put(@CurrentPrincipal() who: Principal, @Param('type') type: string, @Body() body: unknown) {
    if (!LIMITS.typePattern.test(type)) throw invalid([{ path: '/path/type', message: 'must match ^[A-Za-z0-9._:-]{1,128}$' }]);
    const schema = jsonObjectBody(body);
    const problems = await schemaChecker.registrationProblems(schema);
    if (problems.length) throw invalid(problems);
    const version = await this.schemas.put(who.tenant, type, schema);
    if (version === null) throw invalid([{ path: '/path/type', message: `the tenant already has schemas for ${SCHEMA_LIMITS.typesPerTenant} event types, the most it may have` }]);
    return { type, version };
  }
}
