import { Controller, Get, Header } from '@nestjs/common';
import { registry } from './metrics';

@Controller()
export class MetricsController {
  @Get('metrics')
  @Header('content-type', registry.contentType)
  scrape(): Promise<string> {
    return registry.metrics();
  }
}
