import { execFile } from 'child_process';
import { promisify } from 'util';
import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { variablesRead } from './harness/env-read';
import { Platform, ROOT } from './harness/platform';

/**
 * The Kubernetes manifests (k8s/) against the code they run: no cluster here, so what can drift
 * is checked — entry points exist in the build, every variable is one the apps read, probes hit
 * the health endpoints on the ports the apps listen on, pods outlive the graceful shutdown, and
 * the replay Job's command line is one the CLI accepts.
 */
const run = promisify(execFile);
const read = (f: string) => yaml.loadAll(fs.readFileSync(path.join(ROOT, 'k8s', f), 'utf8')) as any[];
const files = ['config.yaml', 'migrate-job.yaml', 'gateway.yaml', 'processor.yaml', 'jobs/rebuild-counts.yaml'];
const docs = files.flatMap(read);
const configMap = docs.find((d) => d.kind === 'ConfigMap');
const podSpecs = docs.filter((d) => d.kind === 'Deployment' || d.kind === 'Job').map((d) => ({ name: d.metadata.name ?? d.metadata.generateName, spec: d.spec.template.spec }));
const containers = podSpecs.flatMap((p) => p.spec.containers.map((c: any) => ({ pod: p.name, ...c })));

describe('Kubernetes manifests', () => {
  it('apply as one kustomization of existing files', () => {
    const k = yaml.load(fs.readFileSync(path.join(ROOT, 'k8s/kustomization.yaml'), 'utf8')) as any;
    for (const f of k.resources) expect(fs.existsSync(path.join(ROOT, 'k8s', f))).toBe(true);
    expect(containers.every((c) => c.image === 'tributary')).toBe(true); // the name kustomize replaces
  });

  it('run entry points that exist in the build', () => {
    for (const c of containers) {
      expect(c.command[0]).toBe('node');
      expect(fs.existsSync(path.join(ROOT, c.command[1]))).toBe(true);
    }
  });

  it('set only variables the apps read', () => {
    const { all } = variablesRead();
    // Sanity of the recording itself: names read by each loader, and one read outside it.
    for (const n of ['DATABASE_URL', 'PORT', 'TRIBUTARY_READ_BURST', 'TRIBUTARY_STUCK_AFTER_MS', 'LOG_LEVEL']) expect(all).toContain(n);
    expect(all).not.toContain('TRIBUTARY_NOT_A_SETTING');
    const names = [...Object.keys(configMap.data), ...containers.flatMap((c) => (c.env ?? []).map((e: { name: string }) => e.name))];
    const unknown = names.filter((n) => !all.has(n));
    expect(unknown).toEqual([]);
    // The secret's keys are documented where the secret is created.
    expect(fs.readFileSync(path.join(ROOT, 'k8s/config.yaml'), 'utf8')).toMatch(/DATABASE_URL=.*TRIBUTARY_ADMIN_TOKEN=/s);
  });

  it('probe /health on the port each app listens on, and let the graceful shutdown finish', () => {
    const shutdownMs = Number(configMap.data.TRIBUTARY_SHUTDOWN_TIMEOUT_MS);
    for (const p of podSpecs.filter((x) => /gateway|processor/.test(x.name))) {
      const c = p.spec.containers[0];
      const portVar = c.env.find((e: { name: string }) => e.name === 'PORT' || e.name === 'PROCESSOR_PORT');
      const named = c.ports.find((x: { name: string }) => x.name === c.readinessProbe.httpGet.port);
      expect(String(named.containerPort)).toBe(portVar.value);
      expect(c.readinessProbe.httpGet.path).toBe('/health/ready');
      expect(c.livenessProbe.httpGet.path).toBe('/health/live');
      expect(p.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdownMs);
    }
  });

  it('give the replay Job a command line the CLI accepts: its exact arguments, run with --dry-run', async () => {
    // --help would not do: commander prints help before it looks at the other options, so a
    // misspelt option would pass. A dry run parses every option and plans against a real store.
    const job = containers.find((c) => c.name === 'replay');
    const p = new Platform('k8sjob', 1);
    await p.start({ processors: 0 });
    try {
      const r = await run(process.execPath, [path.join(ROOT, job.command[1]), ...job.args, '--dry-run'], { env: p.env() });
      expect(job.args).toContain('--json');
      expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true });
      // The same line with an option the CLI does not know is refused: this check can fail.
      const bad = await run(process.execPath, [path.join(ROOT, job.command[1]), ...job.args, '--dry-run', '--no-such-option'], { env: p.env() }).then(() => 0, (e: { code: number }) => e.code);
      expect(bad).not.toBe(0);
    } finally {
      await p.stop();
    }
  });
});
