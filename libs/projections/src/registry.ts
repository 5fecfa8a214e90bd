import { countsProjection } from './counts.projection';
import type { Projection } from './projection';

/** Every projection the processor maintains, in the order they are applied. */
export const PROJECTIONS: readonly Projection<any>[] = [countsProjection];
