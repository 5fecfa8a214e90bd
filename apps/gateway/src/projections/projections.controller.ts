import { Controller, Get, UseGuards } from '@nestjs/common';
import type { Principal } from '@tributary/auth/api-keys';
import { ProjectionStateRepository } from '@tributary/projections/projection-state.repository';
import { PROJECTIONS } from '@tributary/projections/registry';
import { AuthGuard, CurrentPrincipal, RequireRole } from '../http/auth.guard';

/**
 * Projection versions and rebuild progress, as the calling tenant sees them: whether the counts
 * it reads come from a version being replaced. Only the caller's tenant appears (no other
 * tenant's id, scoped rebuild or event volume; ProjectionStateRepository.statuses).
 */
@Controller('v1')
@UseGuards(AuthGuard)
@RequireRole('read')
export class ProjectionsController {
  constructor(private readonly state: ProjectionStateRepository) {}

  @Get('projections')
  async list(@CurrentPrincipal() who: Principal) {
    return { items: await this.state.statuses(PROJECTIONS, who.tenant) };
  }
}
