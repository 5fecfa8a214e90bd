import { Body, Controller, Headers, Post, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Principal } from '@tributary/auth/api-keys';
import { AuthGuard, CurrentPrincipal, RequireRole } from '../http/auth.guard';
import { IngestService } from './ingest.service';

@Controller('v1/events')
@UseGuards(AuthGuard)
export class IngestController {
  constructor(private readonly ingest: IngestService) {}

  @Post()
  @RequireRole('ingest')
  async post(
    @CurrentPrincipal() who: Principal,
    @Headers() headers: Record<string, string | string[] | undefined>,
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    const answer = await this.ingest.ingest(who.tenant, headers, Buffer.isBuffer(body) ? body : Buffer.alloc(0));
    void reply.status(answer.status);
    return answer.body;
  }
}
