/**
 * deploy/prometheus/alerts.yml is a rules file Prometheus can load, and names only
 * metrics a running hookq exposes: a renamed metric fails here, not silently in
 * someone's monitoring.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseDuration } from '../../src/core/units.js';
import { startWithAlerts } from './support.js';

const RULES = fileURLToPath(new URL('../../deploy/prometheus/alerts.yml', import.meta.url));

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

function rules(): Rule[] {
  const document = parse(readFileSync(RULES, 'utf8')) as {
    groups: Array<{ name: string; rules: Rule[] }>;
  };
  assert.ok(Array.isArray(document.groups) && document.groups.length > 0, 'groups: a list');
  return document.groups.flatMap((group) => {
    assert.equal(typeof group.name, 'string');
    assert.ok(Array.isArray(group.rules) && group.rules.length > 0, `${group.name}: rules`);
    return group.rules;
  });
}

/** The sample names a scrape can hold: every metric's, and a histogram's series. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name! + suffix);
  }
  return names;
}

test('every rule is well-formed', () => {
  const all = rules();
  const names = all.map((rule) => rule.alert);
  assert.equal(new Set(names).size, names.length, 'alert names are unique');
  for (const rule of all) {
    assert.match(rule.alert, /^Hookq[A-Za-z]+$/);
    assert.equal(typeof rule.expr, 'string', `${rule.alert}: expr`);
    if (rule.for !== undefined) {
      assert.ok(parseDuration(rule.for) !== undefined, `${rule.alert}: for ${rule.for}`);
    }
    assert.ok(
      ['critical', 'warning'].includes(rule.labels?.severity ?? ''),
      `${rule.alert}: severity`,
    );
    assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
  }
});

test('every metric a rule uses is exposed by a running hookq', async (t) => {
  const { hookq } = await startWithAlerts(t, {
    routes: [{ name: 'r', path: '/r', target: 'http://127.0.0.1:9/unused' }],
  });
  const scrape = await fetch(`${hookq.adminUrl}/metrics`);
  assert.equal(scrape.status, 200);
  const exposed = exposedNames(await scrape.text());
  assert.ok(exposed.has('hookq_target_up'), 'the scrape lists the metrics');
  for (const rule of rules()) {
    const used = rule.expr.match(/\bhookq_[a-z_]+\b/g) ?? [];
    assert.ok(used.length > 0, `${rule.alert} uses no hookq metric`);
    for (const name of used) {
      assert.ok(exposed.has(name), `${rule.alert} uses ${name}, which hookq does not expose`);
    }
  }
});
