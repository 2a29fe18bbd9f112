/**
 * On PostgreSQL a claim is a round trip that takes the route's claim lock, and under load
 * half of them used to come back empty. These tests check that a dispatcher claims when
 * there can be something to find, without letting work wait: after an attempt's outcome
 * has committed (not beside it), once on its own instance's news of work, and at once on
 * another instance's even while its own attempts are in flight.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { RouteConfig } from '../../src/config/types.js';
import { Dispatcher } from '../../src/delivery/dispatcher.js';
import { Forwarder } from '../../src/delivery/forwarder.js';
import { silentLogger } from '../../src/log.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { ClaimedMessage, Store } from '../../src/store/store.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { configFor, tempDir } from '../helpers/config.js';
import { freshSchemas, PG_URL, pgUrlWith, requirePostgres } from '../helpers/postgres.js';
import { type Behaviour, TestTarget } from '../helpers/target.js';

const available = await requirePostgres();
const freshSchema = freshSchemas();

/** Two instances' stores on one new schema. */
async function twoInstances(t: TestContext): Promise<[PostgresStore, PostgresStore]> {
  const url = pgUrlWith({ schema: freshSchema() });
  const one = await PostgresStore.open(url);
  onEnd(t, () => one.close());
  const other = await PostgresStore.open(url);
  onEnd(t, () => other.close());
  return [one, other];
}

const message = (group: string, body: string) => ({
  route: 'r',
  group,
  dedupId: null,
  dedupWindowMs: 0,
  headers: [],
  body: Buffer.from(body),
});

/** The store, with what each claim returned recorded in `claims`. */
function counted(store: Store, claims: number[]): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'claimDue') {
        return async (...args: Parameters<Store['claimDue']>): Promise<ClaimedMessage[]> => {
          const claimed = await target.claimDue(...args);
          claims.push(claimed.length);
          return claimed;
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A dispatcher of route `r` on `store`, delivering to a target that does `behaviour`. */
async function deliveringTo(t: TestContext, store: Store, behaviour: Behaviour) {
  const target = await TestTarget.start(behaviour);
  onEnd(t, () => target.close());
  const forwarder = new Forwarder();
  onEnd(t, () => forwarder.close());
  const dir = removeAfter(t, tempDir('hookq-pg-claims-'));
  const [route] = configFor(dir, {
    routes: [{ name: 'r', path: '/r', target: target.url, group: { header: 'x-group' } }],
  }).routes as RouteConfig[];
  const dispatcher = new Dispatcher({
    store,
    routes: [route!],
    forwarder,
    log: silentLogger(),
    // Far longer than any wait below: work found only by polling shows as a timeout.
    pollMs: 60_000,
  });
  onEnd(t, () => dispatcher.stop(1_000));
  return { target, dispatcher };
}

describe('postgres: claims look when there can be something to find', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  test("an instance hears its own news of work once, and another instance's once", async (t) => {
    const [one, other] = await twoInstances(t);
    const seen: string[] = [];
    one.onWork((route) => seen.push(route));
    await one.enqueue(message('g', 'a'));
    // Its own notification arrives within milliseconds: long enough to have been heard.
    await delay(500);
    assert.deepEqual(seen, ['r']);
    await other.enqueue(message('g', 'b'));
    await waitUntil('the other instance was heard', () => seen.length >= 2, 5_000);
    await delay(500);
    assert.deepEqual(seen, ['r', 'r']);
  });

  test("a group drains with each claim after the previous attempt's outcome, none beside it", async (t) => {
    const [one] = await twoInstances(t);
    for (let i = 0; i < 20; i++) await one.enqueue(message('g', `m${i}`));
    const claims: number[] = [];
    const { target, dispatcher } = await deliveringTo(t, counted(one, claims), () => 200);
    dispatcher.start();
    await target.waitFor((received) => received.length >= 20, 10_000);
    await waitUntil('the last outcome was followed by a claim', () => claims.length >= 21, 5_000);
    await delay(200);
    assert.deepEqual(
      target.received.map((request) => request.body.toString()),
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    // One claim per message, and the one that found the group empty at the end. A claim
    // beside an attempt's outcome finds the group still in flight: one more per message.
    const empty = claims.filter((n) => n === 0).length;
    assert.ok(empty <= 2, `${empty} of ${claims.length} claims came back empty: ${claims}`);
  });

  test("a busy instance takes another instance's new work within a moment, not after its attempt", async (t) => {
    const [one, other] = await twoInstances(t);
    // The first group's attempt takes 3 s; anything else is answered at once.
    const { target, dispatcher } = await deliveringTo(t, one, (request) =>
      request.body.toString() === 'slow' ? { status: 200, afterMs: 3_000 } : 200,
    );
    dispatcher.start();
    await one.enqueue(message('slow-group', 'slow'));
    await target.waitFor((received) => received.length >= 1, 5_000);
    const sentAt = Date.now();
    await other.enqueue(message('other-group', 'quick'));
    await target.waitFor((received) => received.length >= 2, 5_000);
    const waited = target.received[1]!.at - sentAt;
    assert.equal(target.received[1]!.body.toString(), 'quick');
    assert.ok(waited < 1_500, `the other instance's message waited ${waited} ms`);
  });
});
