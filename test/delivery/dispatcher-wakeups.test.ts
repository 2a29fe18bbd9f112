/**
 * A scheduled retry starts when it is due, not when the polling fallback next looks.
 * The dispatcher computes its sleep from store reads that take time; these tests hold
 * those reads back at the worst moments (store hooks around a real SQLite store) and
 * check that no wake-up is lost.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { RouteConfig } from '../../src/config/types.js';
import { Dispatcher } from '../../src/delivery/dispatcher.js';
import { Forwarder } from '../../src/delivery/forwarder.js';
import { silentLogger } from '../../src/log.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { configFor, tempDir } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';

/** Far longer than any wait below: a lost wake-up shows as a retry this late. */
const POLL_MS = 10_000;
const RETRY_MS = 300;

function routeTo(target: TestTarget, dir: string): RouteConfig {
  const [route] = configFor(dir, {
    routes: [
      {
        name: 'r',
        path: '/r',
        target: target.url,
        retry: { maxAttempts: 5, backoff: { initial: `${RETRY_MS}ms`, jitter: 0 } },
      },
    ],
  }).routes;
  return route!;
}

/** The store, with `nextDueAt` answered by `hook` (which may call the real one). */
function hooked(
  store: Store,
  hook: (call: number, real: () => Promise<number | null>) => Promise<number | null>,
): Store {
  let calls = 0;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'nextDueAt') {
        return (route: string) => hook(++calls, () => target.nextDueAt(route));
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function setUp(t: TestContext) {
  const dir = removeAfter(t, tempDir('hookq-wakeups-'));
  // A rejection first (its backoff is what is scheduled), then success.
  const target = await TestTarget.start((_request, index) => (index === 0 ? 422 : 200));
  onEnd(t, () => target.close());
  const store = SqliteStore.open(join(dir, 'hookq.db'));
  onEnd(t, () => store.close());
  const forwarder = new Forwarder();
  onEnd(t, () => forwarder.close());
  return { dir, target, store, forwarder };
}

/** Queue one message and start a dispatcher that reads the store through `wrapped`. */
async function deliverOne(
  t: TestContext,
  { dir, target, store, forwarder }: Awaited<ReturnType<typeof setUp>>,
  wrapped: Store,
): Promise<void> {
  const dispatcher = new Dispatcher({
    store: wrapped,
    routes: [routeTo(target, dir)],
    forwarder,
    log: silentLogger(),
    pollMs: POLL_MS,
  });
  onEnd(t, () => dispatcher.stop(1_000));
  await store.enqueue({
    route: 'r',
    group: 'g',
    dedupId: null,
    dedupWindowMs: 0,
    headers: [],
    body: Buffer.from('x'),
  });
  dispatcher.start();
}

test('a sleep computed by an older pass never replaces the fresher one', async (t) => {
  const { dir, target, store, forwarder } = await setUp(t);
  // The first pass's read of the next due time is held until the second pass (woken
  // by the failed attempt's completion) has set its timer; then it answers what it saw
  // then: nothing due.
  let release: (() => void) | undefined;
  let secondAnswered = false;
  const wrapped = hooked(store, async (call, real) => {
    if (call === 1) {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      return null;
    }
    const at = await real();
    if (call === 2) secondAnswered = true;
    return at;
  });
  await deliverOne(t, { dir, target, store, forwarder }, wrapped);
  await waitUntil('the second pass read its due time', () => secondAnswered, 5_000);
  await new Promise((resolve) => setImmediate(resolve));
  release?.();
  await target.waitFor((received) => received.length >= 2, 5_000);
  const [first, second] = target.received;
  const late = second!.at - first!.at - RETRY_MS;
  assert.ok(late < 200, `the retry started ${late} ms after it was due`);
});

test('a due time that passes while it is being read wakes the dispatcher at once', async (t) => {
  const { dir, target, store, forwarder } = await setUp(t);
  // Every read of the due time takes longer than the retry's backoff.
  const wrapped = hooked(store, async (_call, real) => {
    const at = await real();
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS + 100));
    return at;
  });
  await deliverOne(t, { dir, target, store, forwarder }, wrapped);
  await target.waitFor((received) => received.length >= 2, 5_000);
  const [first, second] = target.received;
  // Due after RETRY_MS, noticed once the slow read returns (RETRY_MS + 100): no later.
  const late = second!.at - first!.at - (RETRY_MS + 100);
  assert.ok(late < 200, `the retry started ${late} ms after the read that saw it due`);
});
