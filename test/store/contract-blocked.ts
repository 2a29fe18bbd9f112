/**
 * The store contract for blocked groups (strict ordering): which groups a dead letter
 * holds, in what order, and how many messages wait behind each. Part of the contract
 * suite (contract.ts runs it for every backend), in a file of its own.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Ordering } from '../../src/core/terms.js';
import { type Store, WAITING_COUNT_LIMIT } from '../../src/store/store.js';
import { failed, message, type TestClock } from './contract.js';

const claimAll = { route: 'r', limit: 100, maxConcurrency: 100, leaseMs: 30_000 };

/** `fresh` gives a new store of the backend under test and the clock it runs on. */
export function blockedGroupsContract(
  fresh: (ordering: Record<string, Ordering>) => Promise<{ store: Store; clock: TestClock }>,
): void {
  describe('blocked groups', () => {
    /**
     * Dead-letter the head of each group at the time given (ms after the start), in
     * one claim, so that when each died is up to the test and not to the claim order.
     */
    async function blockAt(store: Store, clock: TestClock, deaths: Record<string, number>) {
      const start = clock.t;
      for (const group of Object.keys(deaths)) {
        await store.enqueue(message('r', group, `${group} head`));
      }
      const heads = await store.claimDue(claimAll);
      assert.equal(heads.length, Object.keys(deaths).length);
      const byTime = Object.entries(deaths).sort((a, b) => a[1] - b[1]);
      for (const [group, at] of byTime) {
        clock.advance(start + at - clock.t);
        const head = heads.find((m) => m.group === group)!;
        assert.ok(await store.markFailed(head, failed(clock.t), { deadLetter: 'test' }));
      }
    }

    async function queueBehind(store: Store, group: string, n: number) {
      // Concurrent, so that a backend commits them in batches, as it does under load.
      await Promise.all(
        Array.from({ length: n }, (_, i) => store.enqueue(message('r', group, `${group} ${i}`))),
      );
    }

    async function allPages(store: Store, limit: number) {
      const items = [];
      let cursor: string | undefined;
      do {
        const page = await store.blockedGroups('r', limit, cursor);
        assert.ok(page.items.length <= limit);
        items.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return items;
    }

    it('lists the oldest blocked first, with how many wait behind each, on every page size', async () => {
      const { store, clock } = await fresh({ r: 'strict', other: 'strict' });
      // Died in an order that is not the groups' names; a and b at the same moment.
      await blockAt(store, clock, { c: 0, b: 1_000, a: 1_000, d: 2_000 });
      await queueBehind(store, 'c', 3);
      await queueBehind(store, 'b', 1);
      await queueBehind(store, 'd', 2);
      // Neither a group that is not blocked nor another route's blocked group is listed.
      await store.enqueue(message('r', 'free', 'free'));
      await store.enqueue(message('other', 'c', 'elsewhere'));
      const [elsewhere] = await store.claimDue({ ...claimAll, route: 'other' });
      await store.markFailed(elsewhere!, failed(clock.t), { deadLetter: 'test' });
      await store.enqueue(message('other', 'c', 'waits elsewhere'));

      const expected = [
        ['c', 3],
        ['a', 0],
        ['b', 1],
        ['d', 2],
      ];
      for (const limit of [1, 2, 3, 10]) {
        const items = await allPages(store, limit);
        assert.deepEqual(
          items.map((b) => [b.group, b.waiting]),
          expected,
          `pages of ${limit}: by when the head died, then by group`,
        );
        assert.ok(items.every((b) => b.route === 'r' && !b.waitingCapped));
        assert.deepEqual(
          items.map((b) => b.heldBy.finishedAt! - items[0]!.heldBy.finishedAt!),
          [0, 1_000, 1_000, 2_000],
        );
        assert.ok(items.every((b) => b.heldBy.state === 'dead' && b.heldBy.group === b.group));
      }

      // Redriven, c is no longer blocked; once its head dies again it is the newest.
      const c = (await store.blockedGroups('r', 1)).items[0]!;
      assert.equal(await store.redrive({ ids: [c.heldBy.id] }), 1);
      assert.deepEqual(
        (await store.blockedGroups('r', 10)).items.map((b) => b.group),
        ['a', 'b', 'd'],
      );
      clock.advance(5_000);
      const again = (await store.claimDue(claimAll)).find((m) => m.messageId === c.heldBy.id);
      assert.ok(again, 'the redriven head goes again');
      await store.markFailed(again, failed(clock.t), { deadLetter: 'test' });
      assert.deepEqual(
        (await allPages(store, 2)).map((b) => [b.group, b.waiting]),
        [
          ['a', 0],
          ['b', 1],
          ['d', 2],
          ['c', 3],
        ],
      );
    });

    it('counts as waiting only queued messages, not those that expired behind the head', async () => {
      const { store, clock } = await fresh({ r: 'strict' });
      await blockAt(store, clock, { g: 0 });
      await queueBehind(store, 'g', 2);
      clock.advance(10_001);
      await queueBehind(store, 'g', 1);
      const result = await store.sweep(
        'r',
        { queuedMs: 10_000, deadLetterMs: 3_600_000, deliveredMs: 3_600_000 },
        100,
      );
      assert.equal(result.expired.length, 2);
      const [blocked] = (await store.blockedGroups('r', 10)).items;
      assert.equal(blocked?.heldBy.deadReason, 'test', 'the first dead letter still holds g');
      assert.equal(blocked?.waiting, 1);
    });

    it(`stops counting past ${WAITING_COUNT_LIMIT} waiting, and says so`, async () => {
      const { store, clock } = await fresh({ r: 'strict' });
      await blockAt(store, clock, { full: 0, over: 1 });
      for (const [group, n] of [
        ['full', WAITING_COUNT_LIMIT],
        ['over', WAITING_COUNT_LIMIT + 1],
      ] as const) {
        for (let done = 0; done < n; done += 1_000) {
          await queueBehind(store, group, Math.min(1_000, n - done));
        }
      }
      assert.deepEqual(
        (await store.blockedGroups('r', 10)).items.map((b) => [
          b.group,
          b.waiting,
          b.waitingCapped,
        ]),
        [
          ['full', WAITING_COUNT_LIMIT, false],
          ['over', WAITING_COUNT_LIMIT, true],
        ],
      );
    });
  });
}
