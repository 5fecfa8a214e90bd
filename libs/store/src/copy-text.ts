import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/**
 * Rows for `COPY … FROM STDIN` in Postgres' text format: one line per row, tab between columns,
 * `\N` for NULL. COPY is the cheapest way into Postgres — no bind-time parsing of parameter arrays
 * (see docs/performance.md, `process`).
 */
export type CopyValue = string | number | bigint | null | undefined;

const SPECIAL = /[\\\n\r\t]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function copyField(v: CopyValue): string {
  if (v === null || v === undefined) return '\\N';
  const s = typeof v === 'string' ? v : String(v);
  return SPECIAL.test(s) ? s.replace(/[\\\n\r\t]/g, (c) => ESCAPES[c]) : s;
}

export function copyLine(values: CopyValue[]): string {
  let line = copyField(values[0]);
  for (let i = 1; i < values.length; i++) line += '\t' + copyField(values[i]);
  return line + '\n';
}

/** Runs `COPY <table> (<columns>) FROM STDIN` with `lines` (from copyLine) on the client's connection. */
export async function copyInto(client: PoolClient, table: string, columns: readonly string[], lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('finish', resolve);
    stream.end(lines.join(''));
  });
}
