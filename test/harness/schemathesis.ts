import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { CACHE } from './platform';

const execFileAsync = promisify(execFile);

/** The schemathesis the tests run: pinned, so a seeded run generates the same cases everywhere. */
export const SCHEMATHESIS_VERSION = '4.32.5';
const VENV = path.join(CACHE, 'venv-schemathesis');
export const SCHEMATHESIS = path.join(VENV, 'bin', 'schemathesis');

/**
 * Installs schemathesis (PyPI) into a virtualenv under the git-ignored cache once; later runs
 * find it there. Needs python3 with the venv module (Debian: python3-venv).
 */
export async function ensureSchemathesis(): Promise<string> {
  const installed = async () => {
    if (!fs.existsSync(SCHEMATHESIS)) return false;
    const { stdout } = await execFileAsync(SCHEMATHESIS, ['--version']);
    return stdout.includes(SCHEMATHESIS_VERSION);
  };
  if (await installed().catch(() => false)) return SCHEMATHESIS;
  await execFileAsync('python3', ['-m', 'venv', VENV]);
  await execFileAsync(path.join(VENV, 'bin', 'pip'), ['install', '--quiet', `schemathesis==${SCHEMATHESIS_VERSION}`], { maxBuffer: 16 * 1024 * 1024 });
  if (!(await installed())) throw new Error(`schemathesis ${SCHEMATHESIS_VERSION} did not install into ${VENV}`);
  return SCHEMATHESIS;
}

export interface SchemathesisRun {
  code: number;
  out: string;
  generated: number;
}

/**
 * One `schemathesis run`; never throws on a non-zero exit (the caller asserts the code and shows
 * `out`). It runs in a directory of its own under the cache: schemathesis keeps state (failures
 * to replay) in `.schemathesis/` of its working directory, which must not land in the repository.
 * `generated` is the number of test cases it reports having run.
 */
export async function runSchemathesis(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<SchemathesisRun> {
  // Emptied first, so a seeded run does not also replay what an earlier run found.
  const cwd = path.join(CACHE, 'schemathesis-run');
  fs.rmSync(cwd, { recursive: true, force: true });
  fs.mkdirSync(cwd, { recursive: true });
  try {
    const r = await execFileAsync(SCHEMATHESIS, ['run', ...args], { cwd, env: { ...env, NO_COLOR: '1' }, maxBuffer: 64 * 1024 * 1024, timeout: 10 * 60_000 });
    return withCount(0, r.stdout + r.stderr);
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return withCount(typeof x.code === 'number' ? x.code : -1, `${x.stdout ?? ''}${x.stderr ?? ''}`);
  }
}

function withCount(code: number, out: string): SchemathesisRun {
  // The summary's "Test cases:" line, e.g. "1058 generated, 1058 passed".
  return { code, out, generated: Number(/(\d+) generated/.exec(out)?.[1] ?? 0) };
}
