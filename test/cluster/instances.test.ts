/**
 * Several `hookq serve` processes on one PostgreSQL schema: they share the work without
 * breaking a group's order or running two of its messages at once, a SIGKILLed instance's
 * leases run out and the others deliver its messages, and an idle instance is woken by
 * work enqueued elsewhere at once rather than at its next poll.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { leaseMsFor } from '../../src/delivery/dispatcher.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { logsSaying, serve } from '../e2e/support.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import {
  assertDeliveredAsSent,
  deliveredBy,
  GroupTarget,
  holdPgDuringFile,
  pgSkip,
  pgStorage,
  Sender,
  withPg,
} from './support.js';

const GROUPS = 16;
const TIMEOUT_MS = 1_000;
/** How long a killed instance's messages stay leased: the delivery timeout and a margin. */
const LEASE_MS = leaseMsFor(TIMEOUT_MS);
/** How long after a kill the target may still read requests the dead process had written. */
const DRAIN_MS = 250;

// The restart test waits for this file to end before it stops the server.
holdPgDuringFile('hookq_test_cluster_instances');

/** The route every instance serves: grouped by the JSON pointer /group. */
function route(name: string, target: string) {
  return {
    name,
    path: `/${name}`,
    target,
    group: { json: '/group' },
    // Enough attempts that nothing is dead-lettered here.
    retry: { maxAttempts: 1000, backoff: { initial: '50ms', max: '200ms' } },
    delivery: { timeout: `${TIMEOUT_MS}ms`, maxConcurrency: 16 },
  };
}

test('three instances share one queue; a SIGKILLed one loses nothing and breaks no group', {
  skip: pgSkip,
}, async (t) => {
  const { url, schema } = pgStorage(t);
  // Tens of milliseconds per answer: attempts overlap across instances, and a kill often
  // lands while the killed instance holds some.
  const target = await GroupTarget.start(() => 20 + randomInt(40));
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-cluster-'));
  const config = writeConfig(dir, { storage: { url }, routes: [route('cluster', target.url)] });
  const start = () => serve(t, config, ['--log-level', 'debug']);
  // Started together, so they also race to migrate the new schema.
  const slots = await Promise.all([start(), start(), start()]);
  /** Every process that ran, killed ones included: their logs say what they delivered. */
  const processes = slots.map(({ server }) => server);
  const agent = new Agent({ keepAlive: true, maxSockets: GROUPS });
  onEnd(t, () => agent.destroy());

  const urls = slots.map((slot) => `${slot.ingressUrl}/cluster`);
  const sender = new Sender({
    urls,
    groups: GROUPS,
    agent,
    pauseMs: () => randomInt(20),
    retryMs: 20,
  });
  const expiredLeases = () =>
    new Set(
      processes.flatMap((server) =>
        logsSaying(server, 'lease expired; the message goes round again').map((entry) =>
          String(entry.messageId),
        ),
      ),
    );
  const kills: number[] = [];
  let victim = -1;
  try {
    // A kill at a random moment can find its instance holding no lease, leaving nothing
    // to take over: then that instance comes back, and another kill follows.
    for (let round = 0; round < 4 && expiredLeases().size === 0; round++) {
      if (victim >= 0) {
        slots[victim] = await start();
        processes.push(slots[victim]!.server);
        urls[victim] = `${slots[victim]!.ingressUrl}/cluster`;
      }
      await delay(1_500 + randomInt(1_500));
      victim = randomInt(slots.length);
      kills.push(Date.now());
      assert.equal((await slots[victim]!.server.stop('SIGKILL')).signal, 'SIGKILL');
      // The two others go on alone past the end of the dead instance's leases.
      await delay(LEASE_MS + 1_000);
    }
    await delay(randomInt(1_000));
  } finally {
    await sender.stop();
  }
  const survivors = slots.filter((_, index) => index !== victim).map(({ server }) => server);
  const acknowledged = [...sender.acknowledged.values()];

  // Never two messages of one group at the target at once, whichever instances sent them.
  assert.deepEqual(target.overlaps, [], 'a group had two requests in flight at the target');
  assert.equal(Math.max(...target.mostAtOnce.values()), 1);
  assert.equal(target.mostAtOnce.size, GROUPS);

  // Quiet: every acknowledged webhook reached the target, and nothing is left to deliver
  // (so the repeats of the dead instances' attempts have happened too).
  await waitUntil(
    'every acknowledged webhook delivered and nothing pending',
    async () => {
      const ids = new Set(target.received.map((r) => r.id));
      if (!acknowledged.every((ack) => ids.has(ack.id))) return false;
      const pending = await withPg((client) =>
        client.query(`SELECT 1 FROM ${schema}.messages WHERE state <> 'delivered' LIMIT 1`),
      );
      return pending.rowCount === 0;
    },
    30_000,
  );
  const received = [...target.received];
  const expired = expiredLeases();
  const kept = processes.map((server) => deliveredBy(server).filter((d) => d.kept).length);
  const took = sender.sends.map((s) => s.answeredAt - s.sentAt).sort((a, b) => a - b);
  t.diagnostic(
    `${sender.sends.length} sends (p50 ${took[took.length >> 1]} ms), ` +
      `${acknowledged.length} acknowledged, ${received.length} deliveries; ${kills.length} ` +
      `kill(s); delivered per process ${kept.join('/')}; ${expired.size} leases expired`,
  );

  assertDeliveredAsSent(received, sender.acknowledged);

  // The living found the dead instance's leases once they ran out, and delivered them.
  const sinceKill = (at: number) => at - kills.findLast((kill) => kill <= at + DRAIN_MS)!;
  assert.ok(expired.size > 0, `no lease expired after ${kills.length} kills`);
  const keptIds = new Set(
    processes.flatMap((server) =>
      deliveredBy(server)
        .filter((d) => d.kept)
        .map((d) => d.id),
    ),
  );
  for (const id of expired) {
    assert.ok(keptIds.has(id), `${id}: its lease expired, and no instance recorded its delivery`);
    const last = received.findLast((r) => r.id === id)!;
    assert.ok(
      sinceKill(last.at) <= LEASE_MS + 2_000,
      `${id} taken over ${sinceKill(last.at)}ms after the kill; the lease lasts ${LEASE_MS}ms`,
    );
  }

  // Repeats only of attempts a dead instance had under way: first delivered shortly
  // before its kill, delivered again once the lease ran out, with a higher attempt.
  const byId = new Map<string, typeof received>();
  for (const r of received) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  for (const [id, deliveries] of byId) {
    for (let i = 1; i < deliveries.length; i++) {
      const [earlier, later] = [deliveries[i - 1]!, deliveries[i]!];
      assert.ok(
        kills.some((kill) => earlier.at > kill - LEASE_MS && earlier.at <= kill + DRAIN_MS),
        `${id} delivered twice, the first time not shortly before a kill`,
      );
      assert.ok(expired.has(id), `${id} delivered twice, though no lease of it expired`);
      assert.ok(
        later.at - earlier.at >= LEASE_MS / 2,
        `${id} delivered again ${later.at - earlier.at}ms later, before its lease could run out`,
      );
      assert.ok(later.attempt > earlier.attempt, `${id}: the repeat has no higher Hookq-Attempt`);
    }
  }

  // The work was shared, and each message's outcome recorded once (a killed instance may
  // have died between recording an outcome and logging it).
  assert.ok(kept.filter((n) => n > 0).length >= 2, `deliveries per process: ${kept}`);
  assert.deepEqual(
    processes.flatMap((server) => deliveredBy(server).filter((d) => !d.kept)),
    [],
    'a live instance lost the lease of an attempt it was making',
  );
  const total = kept.reduce((sum, n) => sum + n, 0);
  assert.ok(
    total <= byId.size && total >= byId.size - 16 * kills.length,
    `${total} recorded outcomes for ${byId.size} messages`,
  );
  assert.ok(acknowledged.length > 50, `only ${acknowledged.length} webhooks acknowledged`);
  for (const server of survivors) assert.equal((await server.stop('SIGTERM')).code, 0);
});

test('an idle instance takes work enqueued elsewhere within a second, not at its next poll', {
  skip: pgSkip,
}, async (t) => {
  const { url } = pgStorage(t);
  const target = await TestTarget.start();
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-cluster-wake-'));
  const config = writeConfig(dir, { storage: { url }, routes: [route('wake', target.url)] });
  const instances = await Promise.all([0, 1].map(() => serve(t, config, ['--log-level', 'debug'])));
  // An instance that only receives: this process's own store, which runs no dispatcher.
  // Its enqueues wake nothing here; only the notification reaches the two instances.
  const store = await PostgresStore.open(url);
  onEnd(t, () => store.close());
  // Both have made their first pass by now and sleep until their 5 s poll.
  await delay(1_000);

  const latencies: number[] = [];
  for (let i = 0; i < 3; i++) {
    const sentAt = Date.now();
    const { messageId } = await store.enqueue({
      route: 'wake',
      group: `g${i}`,
      dedupId: null,
      dedupWindowMs: 0,
      headers: [['content-type', 'application/json']],
      body: Buffer.from(JSON.stringify({ group: `g${i}`, n: 0 })),
    });
    await target.waitFor(
      (received) => received.some((r) => r.headers['hookq-message-id'] === messageId),
      8_000,
    );
    latencies.push(target.with('hookq-message-id', messageId)[0]!.at - sentAt);
    // Long enough that every instance sleeps again.
    await delay(1_000 + randomInt(1_000));
  }
  const deliveredPer = instances.map(({ server }) => deliveredBy(server).length);
  t.diagnostic(`latencies ${latencies.join(', ')} ms; delivered per instance ${deliveredPer}`);
  for (const latency of latencies) {
    assert.ok(latency < 1_000, `delivered ${latency}ms after it was enqueued (${latencies})`);
  }
  assert.equal(
    deliveredPer.reduce((sum, n) => sum + n, 0),
    3,
  );
});
