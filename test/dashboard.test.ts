import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { metricNames } from '../src/middleware/metrics.js';

const dashboard = JSON.parse(readFileSync(new URL('../dashboards/im-rate-limit.json', import.meta.url), 'utf8'));

/** Every value of `key` anywhere in `value`. */
function valuesOf(value: unknown, key: string): unknown[] {
  if (Array.isArray(value)) return value.flatMap((item) => valuesOf(item, key));
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => (k === key ? [v] : valuesOf(v, key)));
}

const keywords = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression selects: what is left once strings, label matchers, range
 * selectors, grouping clauses, Grafana variables, numbers and function names are taken out.
 */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ')
    .replace(/(?<![\w:])\d[\w.]*/g, ' '); // numbers and durations (`offset 5m`)
  return [...bare.matchAll(/([A-Za-z_:][\w:]*)\s*(\()?/g)]
    .filter(([, name, call]) => call === undefined && !keywords.has((name as string).toLowerCase()))
    .map(([, name]) => name as string);
}

describe('dashboards/im-rate-limit.json', () => {
  const exprs = valuesOf(dashboard, 'expr') as string[];
  const registered = new Set<string>([
    metricNames.requests,
    metricNames.storeFailures,
    metricNames.degraded,
    ...['_bucket', '_sum', '_count'].map((suffix) => metricNames.storeDuration + suffix),
  ]);

  it('parses the metric names out of an expression', () => {
    expect(
      metricsIn(
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y(z)"}[$__rate_interval]))) / on (i) b offset 5m',
      ),
    ).toEqual(['a_bucket', 'b']);
  });

  it('queries only the metrics the library registers, and every one of them', () => {
    expect(exprs.length).toBeGreaterThan(5);
    const used = new Set(exprs.flatMap(metricsIn));
    expect([...used].filter((name) => !registered.has(name))).toEqual([]);
    expect([...used].sort()).toEqual(
      [
        metricNames.requests,
        `${metricNames.storeDuration}_bucket`,
        metricNames.storeFailures,
        metricNames.degraded,
      ].sort(),
    );
    for (const query of valuesOf(dashboard.templating, 'definition') as string[]) {
      const [, metric] = /^label_values\((\w+)(?:\{[^}]*\})?, \w+\)$/.exec(query) ?? [];
      expect(registered).toContain(metric);
    }
  });

  it('has job and instance variables, and every query and the edition variable keep to them', () => {
    const variables = dashboard.templating.list as Array<{ name: string; definition?: string; allValue?: string }>;
    expect(variables.map((variable) => variable.name)).toEqual(['datasource', 'job', 'instance', 'edition']);
    const definitions = Object.fromEntries(variables.map((variable) => [variable.name, variable.definition]));
    // the gauge: every process exports it from start-up, before its first request
    expect(definitions.job).toBe(`label_values(${metricNames.degraded}, job)`);
    expect(definitions.instance).toBe(`label_values(${metricNames.degraded}{job=~"$job"}, instance)`);
    expect(definitions.edition).toBe(
      `label_values(${metricNames.requests}{job=~"$job",instance=~"$instance"}, edition)`,
    );
    for (const variable of variables.slice(1)) expect(variable.allValue).toBe('.*');
    // every selector of every query, not only the first of an expression
    const selectors = exprs.flatMap((expr) => [...expr.matchAll(/im_rate_limit_\w+(\{[^}]*\})?/g)]);
    expect(selectors.length).toBe(11);
    for (const [selector, matchers = ''] of selectors) {
      expect(matchers, selector).toContain('job=~"$job",instance=~"$instance"');
    }
  });

  it('has a panel for each thing an operator watches', () => {
    expect(dashboard.panels.map((panel: { title: string }) => panel.title)).toEqual([
      'Admitted per category',
      'Refused per category',
      'Refusal share',
      'Top refusal reasons (dashboard range)',
      'Store latency p50 / p99',
      'Store failures',
      'Degraded (decisions without the shared store)',
    ]);
  });
});
