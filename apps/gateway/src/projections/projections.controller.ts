import { Controller, Get, UseGuards } from '@nestjs/common';
import { ProjectionStateRepository } from '@tributary/projections/projection-state.repository';
import { PROJECTIONS } from '@tributary/projections/registry';
import { AuthGuard, RequireRole } from '../http/auth.guard';

/**
 * Projection versions and rebuild progress. Tenant keys with the read role may see it: it tells
 * a tenant whether the counts it reads come from a version being replaced; it names no tenant data.
 */
@Controller('v1')
@UseGuards(AuthGuard)
@RequireRole('read')
export class ProjectionsController {
  constructor(private readonly state: ProjectionStateRepository) {}

  @Get('projections')
  async list() {
    return { items: await this.state.statuses(PROJECTIONS) };
  }
}
