/**
 * A target that always fails one kind of message: those become dead letters with their
 * history kept; in strict ordering they hold their group, in fifo ordering they do not;
 * redriven, they are delivered before anything later in their group.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { type Accepted, accepted, hookqHeaders, post, serve } from './support.js';

test('exhausted messages become dead letters, hold strict groups, and redrive in order', async (t) => {
  let healthy = false;
  const target = await TestTarget.start((received) =>
    !healthy && received.body.includes('poison') ? { status: 500, body: 'cannot take it' } : 200,
  );
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-e2e-dlq-'));
  const settings = {
    target: target.url,
    group: { header: 'X-Group' },
    retry: { maxAttempts: 3, backoff: { initial: '50ms', max: '100ms' } },
    delivery: { timeout: '1s' },
  };
  const config = writeConfig(dir, {
    routes: [
      { name: 'strict', path: '/strict', ordering: 'strict', ...settings },
      { name: 'fifo', path: '/fifo', ordering: 'fifo', ...settings },
    ],
  });
  const { ingressUrl } = await serve(t, config);
  const store = SqliteStore.open(join(dir, 'hookq.db'), {
    ordering: { strict: 'strict', fifo: 'fifo' },
  });
  onEnd(t, () => store.close());

  async function send(route: string, group: string, n: number, poison = false) {
    const body = Buffer.from(JSON.stringify({ route, group, n, kind: poison ? 'poison' : 'fine' }));
    return accepted(
      await post(`${ingressUrl}/${route}`, body, { 'x-group': group }),
      group,
      n,
      body,
    );
  }
  /** What the target got for one group of one route, in arrival order. */
  function seen(route: string, group: string) {
    return target.received
      .map((received) => ({ ...hookqHeaders(received), body: received.body }))
      .filter((hq) => hq.route === route && hq.group === group)
      .map((hq) => ({ id: hq.id, attempt: hq.attempt, poison: hq.body.includes('poison') }));
  }
  const ids = (messages: Array<{ id: string }>) => messages.map((m) => m.id);
  async function stateOf(message: Accepted) {
    return (await store.getMessage(message.id))?.state;
  }

  // Sent one after the other, so each group's order is the order below.
  const strict1 = await send('strict', 'A', 1, true);
  const strict2 = await send('strict', 'A', 2);
  const strictB = [await send('strict', 'B', 1), await send('strict', 'B', 2)];
  const fifo1 = await send('fifo', 'A', 1, true);
  const fifo2 = await send('fifo', 'A', 2);
  const fifoB = [await send('fifo', 'B', 1), await send('fifo', 'B', 2)];

  await waitUntil(
    'both poisoned messages dead, other groups delivered',
    async () =>
      (await stateOf(strict1)) === 'dead' &&
      (await stateOf(fifo1)) === 'dead' &&
      (await stateOf(fifo2)) === 'delivered' &&
      (await stateOf(strictB[1]!)) === 'delivered' &&
      (await stateOf(fifoB[1]!)) === 'delivered',
    10_000,
  );
  // Many backoff periods: time enough for a wrongly released message to go out.
  await delay(1000);

  // strict: the dead letter holds group A; B went on.
  assert.deepEqual(ids(seen('strict', 'A')), [strict1.id, strict1.id, strict1.id]);
  assert.equal(await stateOf(strict2), 'queued');
  assert.deepEqual(ids(seen('strict', 'B')), ids(strictB));
  const blocked = await store.blockedGroups('strict', 10);
  assert.deepEqual(
    blocked.items.map((b) => [b.group, b.heldBy.id]),
    [['A', strict1.id]],
  );
  // fifo: the dead letter steps aside, like an SQS FIFO queue's.
  assert.deepEqual(ids(seen('fifo', 'A')), [fifo1.id, fifo1.id, fifo1.id, fifo2.id]);
  assert.deepEqual(ids(seen('fifo', 'B')), ids(fifoB));
  assert.equal((await store.blockedGroups('fifo', 10)).items.length, 0);

  for (const message of [strict1, fifo1]) {
    const dead = await store.getMessage(message.id);
    assert.ok(dead);
    assert.equal(dead.state, 'dead');
    assert.equal(dead.attempts, 3);
    assert.equal(dead.deadReason, 'failed 3 of 3 attempts');
    assert.equal(dead.lastError, 'HTTP 500');
    assert.ok(dead.body.equals(message.body));
    assert.deepEqual(
      dead.history.map((a) => [a.number, a.outcome, a.status, a.responseExcerpt]),
      [
        [1, 'http_error', 500, 'cannot take it'],
        [2, 'http_error', 500, 'cannot take it'],
        [3, 'http_error', 500, 'cannot take it'],
      ],
    );
  }
  assert.deepEqual(
    seen('strict', 'A').map((s) => s.attempt),
    [1, 2, 3],
  );

  // The application is fixed; an operator redrives from outside the hookq process, so
  // nothing wakes its dispatcher: the strict route finds the work on its next poll.
  healthy = true;
  assert.equal(await store.redrive({ route: 'strict' }), 1);
  assert.equal(await store.redrive({ route: 'fifo' }), 1);
  // A new webhook right after the redrive: the redriven message must still go first.
  const fifo3 = await send('fifo', 'A', 3);

  await waitUntil(
    'redriven messages and those behind them delivered',
    async () => (await stateOf(strict2)) === 'delivered' && (await stateOf(fifo3)) === 'delivered',
    15_000,
  );
  const strict3 = await send('strict', 'A', 3);
  await waitUntil(
    'strict A 3 delivered',
    async () => (await stateOf(strict3)) === 'delivered',
    5_000,
  );
  await delay(200);

  assert.deepEqual(
    seen('strict', 'A').map((s) => [s.id, s.attempt]),
    [
      [strict1.id, 1],
      [strict1.id, 2],
      [strict1.id, 3],
      // Attempts start again after a redrive.
      [strict1.id, 1],
      [strict2.id, 1],
      [strict3.id, 1],
    ],
  );
  assert.deepEqual(
    seen('fifo', 'A').map((s) => [s.id, s.attempt]),
    [
      [fifo1.id, 1],
      [fifo1.id, 2],
      [fifo1.id, 3],
      [fifo2.id, 1],
      [fifo1.id, 1],
      [fifo3.id, 1],
    ],
  );
  for (const message of [strict1, fifo1]) {
    const redriven = await store.getMessage(message.id);
    assert.ok(redriven);
    assert.equal(redriven.state, 'delivered');
    assert.equal(redriven.sequence, message.sequence, 'a redrive must keep the sequence');
    assert.equal(redriven.attempts, 1);
    assert.equal(redriven.redrives, 1);
    // The failed attempts stay in the history, followed by the one that worked.
    assert.deepEqual(
      redriven.history.map((a) => a.outcome),
      ['http_error', 'http_error', 'http_error', 'delivered'],
    );
  }
  assert.equal((await store.blockedGroups('strict', 10)).items.length, 0);
});

test('a dead letter redriven while its fifo group is being delivered goes before what was not yet on its way', async (t) => {
  let healthy = false;
  // Slow answers keep the group's messages going out one after another for a while.
  const target = await TestTarget.start((received) =>
    received.body.includes('poison')
      ? healthy
        ? 200
        : { status: 500, body: 'cannot take it' }
      : { status: 200, afterMs: 20 },
  );
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-e2e-dlq-chain-'));
  const config = writeConfig(dir, {
    routes: [
      {
        name: 'fifo',
        path: '/fifo',
        ordering: 'fifo',
        target: target.url,
        group: { header: 'X-Group' },
        retry: { maxAttempts: 1 },
        delivery: { timeout: '2s' },
      },
    ],
  });
  const { ingressUrl } = await serve(t, config);
  const store = SqliteStore.open(join(dir, 'hookq.db'), { ordering: { fifo: 'fifo' } });
  onEnd(t, () => store.close());
  const send = async (n: number, kind: string) => {
    const body = Buffer.from(JSON.stringify({ n, kind }));
    return accepted(await post(`${ingressUrl}/fifo`, body, { 'x-group': 'A' }), 'A', n, body);
  };
  const arrivals = () => target.received.map((received) => hookqHeaders(received).id);

  const poison = await send(0, 'poison');
  await waitUntil(
    'the poisoned message dead',
    async () => (await store.getMessage(poison.id))?.state === 'dead',
    5_000,
  );
  const later: Accepted[] = [];
  for (let n = 1; n <= 40; n++) later.push(await send(n, 'fine'));
  await waitUntil('the group being delivered', async () => arrivals().length >= 6, 5_000);

  healthy = true;
  assert.equal(await store.redrive({ route: 'fifo', group: 'A' }), 1);
  const before = arrivals().length;
  await waitUntil(
    'everything delivered',
    async () =>
      (await store.getMessage(poison.id))?.state === 'delivered' &&
      (await store.getMessage(later.at(-1)!.id))?.state === 'delivered',
    15_000,
  );
  // Only what had been leased when the redrive committed may still go first: the
  // message in flight and the two leased ahead of it.
  const after = arrivals().slice(before);
  const overtaking = after.indexOf(poison.id);
  assert.ok(
    overtaking >= 0 && overtaking <= 3,
    `${overtaking} later messages were delivered after the redrive, before the redriven one`,
  );
  // The rest of the group keeps its order around it.
  assert.deepEqual(
    arrivals().filter((id) => id !== poison.id),
    later.map((m) => m.id),
  );
});
