/**
 * Three instances on one PostgreSQL schema under the load providers bring: bursts over
 * 100 groups sent round-robin to the instances, while a target fails 2 % of attempts.
 * Per-group order holds at the target, no group ever has two requests there at once,
 * and every acknowledged webhook is delivered.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { serve } from '../e2e/support.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import {
  assertDeliveredAsSent,
  clusterConfig,
  GroupTarget,
  holdPgDuringFile,
  pgSkip,
  pgStorage,
  Sender,
  withPg,
} from './support.js';

const GROUPS = 100;

holdPgDuringFile('hookq_test_cluster_bursts');

test('bursts over 100 groups on three instances, 2 % failing: every group in order', {
  skip: pgSkip,
}, async (t) => {
  const { url, schema } = pgStorage(t);
  const target = await GroupTarget.start(
    () => randomInt(5),
    () => randomInt(100) < 2,
  );
  onEnd(t, () => target.close());
  const config = clusterConfig(t, url, 'bursts', target.url, {
    group: { json: '/group' },
    retry: { maxAttempts: 1000, backoff: { initial: '20ms', max: '100ms' } },
    delivery: { timeout: '2s', maxConcurrency: 32 },
  });
  const instances = await Promise.all([serve(t, config), serve(t, config), serve(t, config)]);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  onEnd(t, () => agent.destroy());
  // Each group sends its next webhook as soon as the previous one is acknowledged, with
  // now and then a pause: webhooks of a group come in bursts, interleaved with others.
  const sender = new Sender({
    urls: instances.map(({ ingressUrl }) => `${ingressUrl}/bursts`),
    groups: GROUPS,
    agent,
    pauseMs: () => (randomInt(4) === 0 ? 50 + randomInt(100) : 0),
    retryMs: 20,
  });
  try {
    await delay(6_000);
  } finally {
    await sender.stop();
  }
  const acknowledged = [...sender.acknowledged.values()];
  await waitUntil(
    'every acknowledged webhook delivered and nothing pending',
    async () => {
      const ids = new Set(target.received.filter((r) => r.status === 200).map((r) => r.id));
      if (!acknowledged.every((ack) => ids.has(ack.id))) return false;
      const pending = await withPg((client) =>
        client.query(`SELECT 1 FROM ${schema}.messages WHERE state <> 'delivered' LIMIT 1`),
      );
      return pending.rowCount === 0;
    },
    60_000,
  );
  const failed = target.received.filter((r) => r.status !== 200).length;
  t.diagnostic(
    `${acknowledged.length} acknowledged, ${target.received.length} requests, ${failed} answered 500`,
  );
  assert.ok(acknowledged.length >= GROUPS * 3, `only ${acknowledged.length} webhooks acknowledged`);
  assert.ok(failed > 0, 'no attempt failed: the 2 % never happened');
  assert.deepEqual(target.overlaps, [], 'a group had two requests in flight at the target');
  assertDeliveredAsSent(
    target.received.filter((r) => r.status === 200),
    sender.acknowledged,
  );
  for (const { server } of instances) {
    assert.equal(server.logs.filter((entry) => entry.msg === 'dead-lettered').length, 0);
  }
});
