import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { registry } from '../libs/observability/src/metrics';
import { ROOT } from './harness/platform';

/** Every metric name the apps export, with the series suffixes Prometheus derives. */
function exported(): Set<string> {
  const names = new Set<string>();
  for (const m of registry.getMetricsAsArray()) {
    const name = (m as unknown as { name: string }).name;
    for (const suffix of ['', '_bucket', '_sum', '_count', '_total']) names.add(name + suffix);
  }
  return names;
}

const metricNames = (expr: string) => [...new Set(expr.match(/\btributary_[a-z0-9_]+/g) ?? [])];

describe('dashboards and alert rules', () => {
  const rules = path.join(ROOT, 'deploy/prometheus/alerts.yml');

  it('passes promtool check rules', () => {
    const out = execFileSync('promtool', ['check', 'rules', rules], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('passes promtool check config for the shipped scrape config', () => {
    const out = execFileSync('promtool', ['check', 'config', path.join(ROOT, 'deploy/prometheus/prometheus.yml')], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
  });

  it('names only metrics the apps export, in every dashboard panel and alert', () => {
    const known = exported();
    const dashboard = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/grafana/tributary-dashboard.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets: { expr: string }[] }) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    for (const e of exprs) {
      const names = metricNames(e);
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((n) => !known.has(n))).toEqual([]);
    }
    const alertText = fs.readFileSync(rules, 'utf8');
    expect(metricNames(alertText).filter((n) => !known.has(n))).toEqual([]);
  });
});
