/**
 * A group row the dispatcher cannot handle, written into a running hookq's database:
 * the other groups are delivered, and the operator is told where to look — the log
 * names the message, the metric counts it, the route view and `hookq status` show it.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { accepted, hookqHeaders, logsSaying, post } from '../e2e/support.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { routeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { serveWithAdmin } from './support.js';

const TOKEN = 'cli-stale-token';
const DROPPED =
  'dropped a group row that pointed at no waiting message; the other groups go on (the messages of that group, if any, need an operator: see the message id)';

test('a stale group row is dropped, the route goes on, and log, metric, API and status say so', async (t) => {
  const target = await TestTarget.start(() => 200);
  onEnd(t, () => target.close());
  // One start per 20 ms: claims take one head at a time, the case where a stale row
  // that came first used to hold the route for ever.
  const config = routeConfig(
    t,
    'orders',
    target.url,
    { group: { header: 'X-Group' }, delivery: { maxPerSecond: 50 } },
    { admin: { listen: '127.0.0.1:0', token: TOKEN } },
  );
  const { server, ingressUrl, operator } = await serveWithAdmin(t, config, TOKEN);
  const send = async (group: string) => {
    const body = Buffer.from(JSON.stringify({ group }));
    return accepted(await post(`${ingressUrl}/orders`, body, { 'x-group': group }), group, 1, body);
  };

  const first = await send('a');
  await waitUntil('the first message delivered', () => target.received.length === 1);
  const raw = new Database(join(dirname(config), 'hookq.db'));
  try {
    raw
      .prepare(
        `INSERT INTO groups (route, group_id, head_pk, status, due_at)
         SELECT 'orders', 'ghost', pk, 'ready', 0 FROM messages WHERE id = ?`,
      )
      .run(first.id);
  } finally {
    raw.close();
  }
  for (const group of ['b', 'c', 'd']) await send(group);
  await waitUntil('the other groups delivered', () => target.received.length === 4);
  assert.deepEqual(
    target.received.slice(1).map((r) => hookqHeaders(r).group),
    ['b', 'c', 'd'],
  );

  const [logged] = logsSaying(server, DROPPED);
  assert.ok(logged, 'the dropped row was logged');
  assert.equal(logged.messageId, first.id);
  assert.equal(logged.group, 'ghost');
  const metrics = await (await fetch(`${operator.adminUrl}/metrics`)).text();
  assert.match(metrics, /^hookq_stale_groups_total\{route="orders"\} 1$/m);
  const { routes } = await operator.api<{ routes: Array<{ staleGroupsDropped: number }> }>(
    '/api/routes',
  );
  assert.equal(routes[0]?.staleGroupsDropped, 1);
  const status = await operator.ok(['status']);
  assert.match(status.stdout, /^orders: 1 group row\(s\) dropped that named no waiting message/m);
});
