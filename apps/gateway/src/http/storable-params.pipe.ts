import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import type { FieldError } from '@tributary/contracts/errors';
import { unstorableText } from '@tributary/contracts/storable';
import { invalid } from './body';

/**
 * Every path and query parameter of the Nest routes, checked before a handler runs (after the
 * guards, so a request without a valid key still gets its 401 first): each is one string that
 * Postgres can compare with text. A NUL (`?type=%00`) or an unpaired surrogate would otherwise
 * reach a query as a parameter and fail there (22021: 500); a repeated query parameter
 * (`?to=a&to=b`) arrives as an array the handlers do not expect. Both are the caller's mistake:
 * 422 naming the parameter (`/query/type`, `/path/id`).
 */
@Injectable()
export class StorableParamsPipe implements PipeTransform {
  transform(value: unknown, meta: ArgumentMetadata): unknown {
    if (meta.type !== 'query' && meta.type !== 'param') return value;
    const where = meta.type === 'query' ? 'query' : 'path';
    const params = meta.data === undefined ? (value as Record<string, unknown> | undefined) ?? {} : { [meta.data]: value };
    const errors: FieldError[] = [];
    for (const [name, v] of Object.entries(params)) {
      if (v === undefined) continue;
      const path = `/${where}/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (typeof v !== 'string') errors.push({ path, message: 'must be given once' });
      else {
        const bad = unstorableText(v);
        if (bad) errors.push({ path, message: bad.message });
      }
    }
    if (errors.length) throw invalid(errors);
    return value;
  }
}
