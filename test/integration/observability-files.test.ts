// The alerting rules and the Grafana dashboard shipped in the chart: the rules pass promtool's
// check and unit tests, and both use only series the operator really exports.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { load } from 'js-yaml';
import { OperatorMetrics } from '../../src/observability/metrics.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const rulesFile = path.join(root, 'charts/mlsecrets/files/alerts.yaml');
const dashboardFile = path.join(root, 'charts/mlsecrets/files/dashboard.json');
const promtool = execFileSync('bash', [path.join(root, 'scripts/install-promtool.sh')], { encoding: 'utf8' })
  .trim()
  .split('\n')
  .at(-1)!;

/** Every series name the operator exports, with histogram suffixes. */
async function exportedSeries(): Promise<Set<string>> {
  const metrics = new OperatorMetrics({ defaultMetrics: false });
  metrics.observe({
    expiries: () => [],
    lifetimes: () => [],
    bindings: () => [],
    informers: () => [],
    now: () => 0,
  });
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram')
      for (const suffix of ['_bucket', '_count', '_sum']) names.add(metric.name + suffix);
  }
  return names;
}

function referencedSeries(expressions: string[]): string[] {
  return [...new Set(expressions.flatMap((e) => e.match(/\bmlsecrets_[a-z_]+/g) ?? []))];
}

test('promtool check rules passes', () => {
  expect(execFileSync(promtool, ['check', 'rules', rulesFile], { encoding: 'utf8' })).toMatch(
    /SUCCESS: 8 rules found/,
  );
});

test('promtool test rules passes the unit-test series', () => {
  const out = execFileSync(promtool, ['test', 'rules', path.join(root, 'test/prometheus/alerts.test.yaml')], {
    encoding: 'utf8',
    cwd: path.join(root, 'test/prometheus'),
  });
  expect(out).toMatch(/SUCCESS/);
});

test('the rules and the dashboard reference only exported series', async () => {
  const exported = await exportedSeries();
  const rules = load(fs.readFileSync(rulesFile, 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  const dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
  };
  const used = referencedSeries([
    ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)),
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
  ]);
  expect(used.length).toBeGreaterThan(10);
  expect(used.filter((name) => !exported.has(name))).toEqual([]);
});
