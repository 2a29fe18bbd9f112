/**
 * SPEC §5a "Rate" on PostgreSQL: `delivery.maxPerSecond` bounds the attempts a route starts
 * on all instances together, not on each one. Three `hookq serve` processes share one
 * schema; a backlog over several groups drains into a target that records when each
 * request arrived, and no second of those arrivals holds more than maxPerSecond.
 *
 * It fails if the limit were kept per instance (three instances could then start up to
 * three times as many attempts in one second), and it checks that more than one instance
 * took part, so a drain done by one instance alone cannot make it pass.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { assertFirstDeliveriesInOrder, post, serve } from '../e2e/support.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import {
  adminUrlOf,
  clusterConfig,
  deliveredBy,
  GroupTarget,
  holdPgDuringFile,
  pgSkip,
  pgStorage,
} from './support.js';

holdPgDuringFile('hookq_test_cluster_rate');

/**
 * The most arrivals in any window of one second, [at, at + 1000 ms). The store contract
 * test "spaces starts by maxPerSecond, across calls" holds the store to starts at least
 * 1000 / maxPerSecond ms apart, exactly (on its injected clock, 99 ms after a start
 * nothing more may start, at 100 ms the next may), so it allows no slack: maxPerSecond
 * starts in a second, never one more. The same bound applies here, with no allowance
 * added; the instances and the target read the same host clock.
 */
function mostInOneSecond(arrivals: readonly number[]): { most: number; from: number } {
  const sorted = [...arrivals].sort((a, b) => a - b);
  let most = 0;
  let from = 0;
  let end = 0;
  for (const [i, at] of sorted.entries()) {
    while (end < sorted.length && sorted[end]! < at + 1_000) end++;
    if (end - i > most) {
      most = end - i;
      from = at;
    }
  }
  return { most, from };
}

test('three instances together start at most maxPerSecond attempts in any second', {
  skip: pgSkip,
  timeout: 120_000,
}, async (t) => {
  const maxPerSecond = 5;
  const target = await GroupTarget.start(() => 0);
  onEnd(t, () => target.close());
  const storage = pgStorage(t);
  const config = clusterConfig(t, storage.url, 'r', target.url, {
    group: { json: '/group' },
    delivery: { timeout: '5s', maxConcurrency: 16, maxPerSecond },
  });
  // Debug, so each instance's `delivered` lines tell which of them delivered what.
  const instances = await Promise.all(
    [0, 1, 2].map(() => serve(t, config, ['--log-level', 'debug'])),
  );
  const agent = new Agent({ keepAlive: true, maxSockets: 6 });
  onEnd(t, () => agent.destroy());

  // A backlog: the route is paused (on all instances: the flag is in the database) while
  // 60 webhooks over 6 groups arrive, spread over the three instances.
  const admin = adminUrlOf(instances[0]!.server);
  assert.equal((await fetch(`${admin}/api/routes/r/pause`, { method: 'POST' })).status, 200);
  const ids = new Set<string>();
  for (let n = 0; n < 10; n++) {
    for (let g = 0; g < 6; g++) {
      const { ingressUrl } = instances[(n * 6 + g) % instances.length]!;
      const reply = await post(`${ingressUrl}/r`, JSON.stringify({ group: `g${g}`, n }), {}, agent);
      assert.equal(reply.status, 200, JSON.stringify(reply.json));
      ids.add(reply.json.messageId!);
    }
  }
  assert.equal(ids.size, 60);
  const other = adminUrlOf(instances[1]!.server);
  assert.equal((await fetch(`${other}/api/routes/r/resume`, { method: 'POST' })).status, 200);

  await waitUntil(
    'every message arrived',
    () => new Set(target.received.map((r) => r.id)).size >= ids.size,
    60_000,
  );
  assert.deepEqual(new Set(target.received.map((r) => r.id)), ids, 'only what was sent arrived');
  assertFirstDeliveriesInOrder(target.received);

  // Every request the target got is an attempt some instance started, repeats included.
  const arrivals = target.received.map((r) => r.at).sort((a, b) => a - b);
  const { most, from } = mostInOneSecond(arrivals);
  const spans = arrivals.slice(maxPerSecond).map((at, i) => at - arrivals[i]!);
  t.diagnostic(
    `most arrivals in one second: ${most}; shortest span of ${maxPerSecond + 1} in a row: ${Math.min(...spans)} ms`,
  );
  assert.ok(
    most <= maxPerSecond,
    `${most} attempts arrived within one second from ${new Date(from).toISOString()} ` +
      `(maxPerSecond ${maxPerSecond}): the instances do not share the rate`,
  );

  // The drain was shared: the limit held across instances, not inside a single one.
  const deliveredPerInstance = instances.map(({ server }) => deliveredBy(server).length);
  t.diagnostic(`deliveries per instance: ${deliveredPerInstance.join(', ')}`);
  assert.ok(
    deliveredPerInstance.filter((count) => count > 0).length >= 2,
    `deliveries per instance: ${deliveredPerInstance.join(', ')}`,
  );
});
