/**
 * On PostgreSQL the breaker and the rate belong to the route, not to an instance: with
 * three instances and a down target, the target sees one probe per interval in all, and
 * once it is back every instance delivers again.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { hookqHeaders, post, serve } from '../e2e/support.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { TestTarget } from '../helpers/target.js';
import { clusterConfig, holdPgDuringFile, pgSkip, pgStorage } from './support.js';

holdPgDuringFile('hookq_test_cluster_breaker');

test('three instances probe a down target once per interval in all', {
  skip: pgSkip,
}, async (t) => {
  let answer = 503;
  const target = await TestTarget.start(() => answer);
  onEnd(t, () => target.close());
  const storage = pgStorage(t);
  const probeMs = 500;
  const config = clusterConfig(t, storage.url, 'r', target.url, {
    group: { header: 'X-Group' },
    retry: { maxAttempts: 3, backoff: { initial: '50ms', max: '100ms' } },
    delivery: {
      timeout: '1s',
      breaker: { after: 3, probe: { initial: `${probeMs}ms`, max: `${probeMs}ms` } },
    },
  });
  const instances = await Promise.all([serve(t, config), serve(t, config), serve(t, config)]);
  const agent = new Agent({ keepAlive: true, maxSockets: 6 });
  onEnd(t, () => agent.destroy());
  const groups = Array.from({ length: 12 }, (_, i) => `g${i}`);
  const sent: string[] = [];
  for (const [i, group] of groups.entries()) {
    const { ingressUrl } = instances[i % instances.length]!;
    const reply = await post(`${ingressUrl}/r`, Buffer.from(group), { 'x-group': group }, agent);
    assert.equal(reply.status, 200);
    sent.push(reply.json.messageId!);
  }
  // Let the breaker trip, then count what the target sees over several intervals.
  await waitUntil(
    'the target is down',
    () =>
      instances.some(({ server }) =>
        server.logs.some((entry) => String(entry.msg).startsWith('target is down')),
      ),
    10_000,
  );
  await delay(probeMs * 2);
  const before = target.received.length;
  const since = Date.now();
  await delay(probeMs * 6);
  const seen = target.received.length - before;
  const intervals = (Date.now() - since) / probeMs;
  assert.ok(seen >= 2, `only ${seen} probes`);
  assert.ok(
    seen <= Math.ceil(intervals) + 1,
    `${seen} requests in ${intervals.toFixed(1)} probe intervals: the instances probe on their own`,
  );

  answer = 200;
  const back = Date.now();
  await waitUntil(
    'every message delivered once the target is back',
    () =>
      new Set(target.received.filter((r) => r.at >= back).map((r) => hookqHeaders(r).id)).size >=
      sent.length,
    15_000,
  );
  for (const { server } of instances) {
    assert.equal(
      server.logs.filter((entry) => entry.msg === 'dead-lettered').length,
      0,
      'the outage dead-lettered nothing',
    );
  }
});
