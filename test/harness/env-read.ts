import * as fs from 'fs';
import * as path from 'path';
import { ConfigError, loadGatewayConfig, loadProcessorConfig, loadReplayConfig } from '../../libs/config/src/config';
import { ROOT } from './platform';

/**
 * The environment variables the apps read, found by running them rather than by searching text:
 * each app's config loader is run against an environment that records every name it is asked
 * for, and the few direct reads outside libs/config are taken from the `process.env.<name>` expressions
 * in the apps' and libs' sources. (A name that only appears in a comment or a string is not read.)
 */
export function variablesRead(): { config: Set<string>; direct: Set<string>; all: Set<string> } {
  const config = new Set<string>();
  const recording = new Proxy({} as Record<string, string | undefined>, {
    get: (_t, name) => {
      if (typeof name === 'string') config.add(name);
      return undefined;
    },
  });
  for (const load of [loadGatewayConfig, loadProcessorConfig, loadReplayConfig]) {
    try {
      load(recording);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e; // a missing required variable, as expected here
    }
  }
  const direct = new Set<string>();
  for (const file of sources(['apps', 'libs'])) {
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)) direct.add(m[1]);
  }
  return { config, direct, all: new Set([...config, ...direct]) };
}

function sources(dirs: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')) out.push(p);
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d));
  return out;
}
