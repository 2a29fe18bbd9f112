/**
 * The admin API's dead-letter calls (SPEC §6): discarding a dead letter, redriving by
 * ids, group, route or all with group order kept, and the strict groups a dead letter
 * holds.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { z } from 'zod';
import type {
  BlockedGroupPage,
  Discarded,
  MessageView,
  RedriveResult,
} from '../../src/admin/schemas.js';
import { waitUntil } from '../helpers/async.js';
import {
  type AdminApi,
  BY_HEADER,
  type ErrorAnswer,
  expectStatus,
  list,
  messageIds,
  ONE_ATTEMPT,
  poisonTarget,
  routeView,
  scrape,
  seriesValue,
  startAdmin,
  stateOf,
  webhook,
} from './support.js';

async function deadCount(api: AdminApi, route?: string): Promise<number> {
  return (await list(api, { state: 'dead', limit: 1000, ...(route ? { route } : {}) })).items
    .length;
}

describe('what each call does', () => {
  test('DELETE /api/messages/{id} discards a dead letter only, and counts it', async (t) => {
    const { behaviour } = poisonTarget();
    const started = await startAdmin(
      t,
      { routes: [{ name: 'orders', path: '/orders', group: BY_HEADER, retry: ONE_ATTEMPT }] },
      // The store tells the dispatcher of enqueues, redrives and resumes but not of
      // discards, so the message behind a discarded dead letter goes on at the next poll.
      { behaviour, start: { pollMs: 200 } },
    );
    const { hookq, api, target } = started;
    const dead = await webhook(hookq, '/orders', '{"poison":1}', { 'x-group': 'A' });
    const waiting = await webhook(hookq, '/orders', '{"n":2}', { 'x-group': 'A' });
    const delivered = await webhook(hookq, '/orders', '{"n":3}', { 'x-group': 'B' });
    await waitUntil(
      'one dead, one delivered',
      async () =>
        (await stateOf(started, dead)) === 'dead' &&
        (await stateOf(started, delivered)) === 'delivered',
    );
    const deletedBy = async (by: string) =>
      seriesValue(await scrape(api), 'hookq_dead_letters_deleted_total', { route: 'orders', by });
    assert.equal(await deletedBy('operator'), 0);

    for (const [id, state] of [
      [delivered, 'delivered'],
      [waiting, 'queued'],
    ] as const) {
      const refused = expectStatus(await api.delete<ErrorAnswer>(`/api/messages/${id}`), 409);
      assert.match(refused.json.error, new RegExp(state));
      assert.equal(await stateOf(started, id), state, 'a refused discard changed the message');
    }
    expectStatus(await api.delete('/api/messages/no-such-message'), 404);
    assert.equal(await deletedBy('operator'), 0);

    const discarded = expectStatus(
      await api.delete<z.output<typeof Discarded>>(`/api/messages/${dead}`),
      200,
    ).json.discarded;
    assert.deepEqual([discarded.id, discarded.state, discarded.group], [dead, 'dead', 'A']);
    expectStatus(await api.get(`/api/messages/${dead}`), 404);
    assert.deepEqual((await list(api, { state: 'dead' })).items, []);
    assert.equal(await deletedBy('operator'), 1);
    assert.equal(await deletedBy('retention'), 0);

    // The dead letter no longer holds its group: the message behind it goes on.
    await waitUntil('the waiting message delivered', async () =>
      messageIds(target.received).includes(waiting),
    );
    expectStatus(await api.delete(`/api/messages/${dead}`), 404);
    assert.equal(await deletedBy('operator'), 1, 'a second discard counted again');
  });

  test('POST /api/redrive by ids, group, route, all and limit; redriven messages keep their group order', async (t) => {
    const { state, behaviour } = poisonTarget();
    const settings = { group: BY_HEADER, retry: ONE_ATTEMPT };
    const started = await startAdmin(
      t,
      {
        routes: [
          { name: 'orders', path: '/orders', ...settings },
          { name: 'billing', path: '/billing', ...settings },
        ],
      },
      { behaviour },
    );
    const { hookq, api, target } = started;
    const poisoned = new Map<string, string>();
    const followers = new Map<string, string>();
    const groups = [
      ...['A', 'B', 'C', 'D', 'E'].map((group) => ['orders', group] as const),
      ...['A', 'B'].map((group) => ['billing', group] as const),
    ];
    for (const [route, group] of groups) {
      const headers = { 'x-group': group };
      poisoned.set(
        `${route}/${group}`,
        await webhook(hookq, `/${route}`, `{"poison":"${group}"}`, headers),
      );
      followers.set(
        `${route}/${group}`,
        await webhook(hookq, `/${route}`, `{"after":"${group}"}`, headers),
      );
    }
    await waitUntil('every poisoned message dead', async () => (await deadCount(api)) === 7);
    state.healthy = true;

    const redrive = async (body: Record<string, unknown>) =>
      expectStatus(await api.post<z.output<typeof RedriveResult>>('/api/redrive', body), 200).json;
    const deliveredAll = (keys: string[]) =>
      waitUntil(`${keys.join(', ')} delivered`, async () => {
        const ids = messageIds(target.received);
        return keys.every(
          (key) => ids.includes(poisoned.get(key)!) && ids.includes(followers.get(key)!),
        );
      });

    // An unknown id is passed over; only dead letters move.
    const byIds = await redrive({ ids: [poisoned.get('orders/A'), 'no-such-message'] });
    assert.deepEqual(byIds, { moved: 1, remaining: 0 });
    await deliveredAll(['orders/A']);
    assert.equal(await deadCount(api), 6);

    assert.deepEqual(await redrive({ route: 'orders', group: 'B' }), { moved: 1, remaining: 0 });
    await deliveredAll(['orders/B']);
    assert.equal(await deadCount(api, 'orders'), 3, 'redriving one group moved others');

    assert.deepEqual(await redrive({ route: 'orders', limit: 2 }), { moved: 2, remaining: 1 });
    assert.deepEqual(await redrive({ route: 'orders' }), { moved: 1, remaining: 0 });
    await deliveredAll(['orders/C', 'orders/D', 'orders/E']);
    assert.equal(await deadCount(api, 'billing'), 2, 'redriving a route moved another');

    assert.deepEqual(await redrive({ all: true, limit: 1 }), { moved: 1, remaining: 1 });
    assert.deepEqual(await redrive({ all: true }), { moved: 1, remaining: 0 });
    await deliveredAll(['billing/A', 'billing/B']);
    assert.deepEqual(await redrive({ all: true }), { moved: 0, remaining: 0 });
    assert.equal(await deadCount(api), 0);

    // Per group: the failed try, then the redriven message as attempt 1 again, then the
    // message that waited behind it; nothing of the group was sent out of turn.
    for (const [route, group] of groups) {
      const key = `${route}/${group}`;
      const seen = target.received
        .filter((r) => r.headers['hookq-route'] === route && r.headers['hookq-group-id'] === group)
        .map((r) => [r.headers['hookq-message-id'], r.headers['hookq-attempt']]);
      assert.deepEqual(
        seen,
        [
          [poisoned.get(key), '1'],
          [poisoned.get(key), '1'],
          [followers.get(key), '1'],
        ],
        key,
      );
    }
    // A redriven message keeps its earlier attempts in its history.
    const redriven = expectStatus(
      await api.get<z.output<typeof MessageView>>(`/api/messages/${poisoned.get('orders/A')}`),
      200,
    ).json;
    assert.equal(redriven.redrives, 1);
    assert.deepEqual(
      redriven.history.map((a) => a.outcome),
      ['http_error', 'delivered'],
    );
  });

  test('GET /api/groups/blocked lists strict groups with the dead letter holding each', async (t) => {
    const { behaviour } = poisonTarget();
    const settings = { group: BY_HEADER, retry: ONE_ATTEMPT };
    const started = await startAdmin(
      t,
      {
        routes: [
          { name: 'strict', path: '/strict', ordering: 'strict', ...settings },
          { name: 'fifo', path: '/fifo', ordering: 'fifo', ...settings },
        ],
      },
      { behaviour },
    );
    const { hookq, api } = started;
    const holders: Record<string, string> = {};
    for (const group of ['A', 'B']) {
      holders[group] = await webhook(hookq, '/strict', `{"poison":"${group}"}`, {
        'x-group': group,
      });
      await webhook(hookq, '/strict', `{"after":"${group}"}`, { 'x-group': group });
    }
    const free = await webhook(hookq, '/strict', '{"fine":true}', { 'x-group': 'C' });
    await webhook(hookq, '/fifo', '{"poison":"A"}', { 'x-group': 'A' });
    const passed = await webhook(hookq, '/fifo', '{"after":"A"}', { 'x-group': 'A' });
    await waitUntil(
      'dead letters in place',
      async () =>
        (await deadCount(api)) === 3 &&
        (await stateOf(started, free)) === 'delivered' &&
        (await stateOf(started, passed)) === 'delivered',
    );

    type Blocked = z.output<typeof BlockedGroupPage>;
    const page = expectStatus(
      await api.get<Blocked>('/api/groups/blocked', { route: 'strict' }),
      200,
    ).json;
    assert.equal(page.nextCursor, null);
    // Listed in the order the groups became blocked; A and B were attempted concurrently.
    assert.deepEqual(
      page.items
        .map((item) => [item.route, item.group, item.heldBy.id, item.heldBy.state])
        .sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
      [
        ['strict', 'A', holders.A, 'dead'],
        ['strict', 'B', holders.B, 'dead'],
      ],
    );

    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const next: Blocked = expectStatus(
        await api.get<Blocked>('/api/groups/blocked', {
          route: 'strict',
          limit: 1,
          ...(cursor ? { cursor } : {}),
        }),
        200,
      ).json;
      assert.ok(next.items.length <= 1);
      walked.push(...next.items.map((item) => item.group));
      cursor = next.nextCursor;
    } while (cursor !== null && walked.length < 10);
    assert.deepEqual(walked.sort(), ['A', 'B']);

    const fifo = expectStatus(
      await api.get<Blocked>('/api/groups/blocked', { route: 'fifo' }),
      200,
    );
    assert.deepEqual(fifo.json.items, [], 'a fifo dead letter blocks nothing');
    assert.equal((await routeView(api, 'strict')).blockedGroups, 2);
    assert.equal((await routeView(api, 'fifo')).blockedGroups, 0);
  });
});
