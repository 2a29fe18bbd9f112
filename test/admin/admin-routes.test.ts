/**
 * The admin API's routes (SPEC §6): their counts, state and target health as messages
 * flow to a real target, and pause and resume.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { z } from 'zod';
import type { PauseState } from '../../src/admin/schemas.js';
import { delay, waitUntil } from '../helpers/async.js';
import {
  BY_HEADER,
  type ErrorAnswer,
  expectStatus,
  list,
  messageIds,
  ONE_ATTEMPT,
  poisonTarget,
  type RouteAnswer,
  refusingUrl,
  routeView,
  scrape,
  seriesValue,
  startAdmin,
  stateOf,
  webhook,
} from './support.js';

/** A route's view without the settings that name it. */
function countsOf(route: RouteAnswer) {
  const { name: _name, path: _path, target: _target, ...counts } = route;
  return counts;
}

describe('what each call does', () => {
  test('GET /api/routes counts move as messages flow', async (t) => {
    const { state, behaviour } = poisonTarget();
    const refusing = await refusingUrl();
    const started = await startAdmin(
      t,
      {
        routes: [
          {
            name: 'orders',
            path: '/orders',
            group: BY_HEADER,
            retry: ONE_ATTEMPT,
            delivery: { timeout: '1s' },
          },
          { name: 'quiet', path: '/quiet' },
          // Refuses every connection: its target goes down after three attempts (the
          // default breaker) and, with nothing ever delivered there, nothing of it dies.
          { name: 'down', path: '/down', target: refusing, group: BY_HEADER, retry: ONE_ATTEMPT },
        ],
      },
      // A message saying "hang" stays in flight until the delivery timeout.
      { behaviour: (r) => (!state.healthy && r.body.includes('hang') ? 'hang' : behaviour(r)) },
    );
    const { hookq, api, target } = started;
    const up = { state: 'up', since: null, lastError: null, nextProbeAt: null };
    const idle = {
      paused: false,
      queued: 0,
      inflight: 0,
      deadLetter: 0,
      delivered: 0,
      blockedGroups: 0,
      staleGroupsDropped: 0,
      oldestAgeSeconds: 0,
      state: 'idle',
      health: up,
      lastDeadLetter: null,
    };
    const quiet = await routeView(api, 'quiet');
    assert.deepEqual(quiet, {
      name: 'quiet',
      path: '/quiet',
      target: target.url,
      ordering: 'strict',
      ...idle,
    });
    assert.deepEqual(countsOf(await routeView(api, 'orders')), { ordering: 'strict', ...idle });
    assert.deepEqual(countsOf(await routeView(api, 'down')), { ordering: 'strict', ...idle });

    // Three groups, so the three attempts that take the target down come at once.
    const refused: string[] = [];
    for (const group of ['P', 'Q', 'R']) {
      refused.push(await webhook(hookq, '/down', `{"g":"${group}"}`, { 'x-group': group }));
    }

    expectStatus(await api.post('/api/routes/orders/pause'), 200);
    const a1 = await webhook(hookq, '/orders', '{"n":"a1","do":"hang"}', { 'x-group': 'A' });
    const a2 = await webhook(hookq, '/orders', '{"n":"a2"}', { 'x-group': 'A' });
    await webhook(hookq, '/orders', '{"n":"b1"}', { 'x-group': 'B' });
    await delay(60);
    let orders = await routeView(api, 'orders');
    assert.equal(orders.paused, true);
    assert.equal(orders.state, 'paused');
    assert.equal(orders.queued, 3);
    assert.equal(orders.inflight, 0);
    assert.ok(orders.oldestAgeSeconds >= 0.05, `oldest ${orders.oldestAgeSeconds}s`);
    assert.ok(orders.oldestAgeSeconds < 30, `oldest ${orders.oldestAgeSeconds}s`);
    assert.deepEqual(await routeView(api, 'quiet'), quiet, 'another route counted these');

    expectStatus(await api.post('/api/routes/orders/resume'), 200);
    await waitUntil('a1 in flight and b1 delivered', async () => {
      orders = await routeView(api, 'orders');
      return orders.inflight === 1 && orders.delivered === 1;
    });
    assert.equal(orders.paused, false);
    assert.equal(orders.state, 'delivering');
    assert.equal(orders.queued, 1, 'a2 waits behind a1');
    assert.equal(orders.deadLetter, 0);
    assert.ok(orders.oldestAgeSeconds > 0);
    assert.deepEqual(orders.health, up);

    // b1 got through after a1 was accepted, so a1's timeout is charged: a dead letter.
    await waitUntil('a1 timed out into the dead-letter queue', async () => {
      orders = await routeView(api, 'orders');
      return orders.deadLetter === 1;
    });
    assert.equal(orders.inflight, 0);
    assert.equal(orders.blockedGroups, 1);
    assert.equal(orders.queued, 1, 'a2 still waits behind the dead letter');
    assert.ok(orders.oldestAgeSeconds > 0, 'a2 is waiting');
    assert.equal(orders.state, 'stuck', 'all that waits is behind a dead letter');
    assert.deepEqual(orders.health, up, 'one timeout does not take the target down');
    assert.equal(await stateOf(started, a2), 'queued');

    state.healthy = true;
    expectStatus(await api.post('/api/redrive', { ids: [a1] }), 200);
    await waitUntil('everything delivered', async () => {
      orders = await routeView(api, 'orders');
      return orders.delivered === 3;
    });
    assert.deepEqual(countsOf(orders), { ordering: 'strict', ...idle, delivered: 3 });

    // Meanwhile the refused route went down; the others are up.
    let down = await routeView(api, 'down');
    await waitUntil('the refusing target is down', async () => {
      down = await routeView(api, 'down');
      return down.health.state === 'down';
    });
    assert.equal(down.state, 'stuck', 'messages wait for a target that is down');
    assert.equal(down.queued + down.inflight, 3);
    assert.equal(down.deadLetter, 0, 'an outage dead-lettered a message');
    assert.equal(down.delivered, 0);
    assert.equal(down.blockedGroups, 0);
    assert.ok(down.oldestAgeSeconds > 0);
    const { since, lastError, nextProbeAt } = down.health;
    assert.ok(since !== null && Number.isFinite(Date.parse(since)), `since ${since}`);
    assert.match(String(lastError), /ECONNREFUSED/);
    assert.ok(
      nextProbeAt !== null && Date.parse(nextProbeAt) >= Date.parse(since),
      `next probe ${nextProbeAt}, down since ${since}`,
    );
    for (const id of refused) {
      assert.notEqual(await stateOf(started, id), 'dead', `${id} was dead-lettered`);
    }
    const samples = await scrape(api);
    assert.ok(
      samples.some((s) => s.name === 'hookq_target_up' && s.labels.route === 'down'),
      'no hookq_target_up for the route that is down',
    );
    assert.equal(seriesValue(samples, 'hookq_target_up', { route: 'down' }), 0);
    assert.equal(seriesValue(samples, 'hookq_target_up', { route: 'orders' }), 1);
    assert.equal(seriesValue(samples, 'hookq_target_up', { route: 'quiet' }), 1);
    assert.deepEqual(await routeView(api, 'quiet'), quiet, 'an outage elsewhere showed here');
  });

  test('pause stops deliveries while ingress keeps accepting; resume sends them in order', async (t) => {
    const started = await startAdmin(t, {
      routes: [
        { name: 'orders', path: '/orders', group: 'one' },
        { name: 'billing', path: '/billing' },
      ],
    });
    const { hookq, api, target } = started;
    type Pause = z.output<typeof PauseState>;
    const paused = expectStatus(await api.post<Pause>('/api/routes/orders/pause'), 200);
    assert.deepEqual(paused.json, { route: 'orders', paused: true });
    assert.equal((await routeView(api, 'orders')).paused, true);

    const sent: string[] = [];
    for (let n = 0; n < 3; n++) sent.push(await webhook(hookq, '/orders', `{"n":${n}}`));
    // Another route's delivery shows the dispatcher is running, so the silence below is the pause.
    const other = await webhook(hookq, '/billing', '{"other":true}');
    await target.waitFor((received) => messageIds(received).includes(other));
    await delay(300);
    assert.deepEqual(messageIds(target.received), [other], 'a paused route delivered');
    assert.deepEqual(
      (await list(api, { route: 'orders', state: 'queued' })).items.map((m) => m.id),
      sent,
    );
    // Pausing again is harmless.
    assert.deepEqual(expectStatus(await api.post<Pause>('/api/routes/orders/pause'), 200).json, {
      route: 'orders',
      paused: true,
    });

    const resumed = expectStatus(await api.post<Pause>('/api/routes/orders/resume'), 200);
    assert.deepEqual(resumed.json, { route: 'orders', paused: false });
    await target.waitFor((received) => received.length === 4);
    assert.deepEqual(messageIds(target.received), [other, ...sent]);
    assert.equal((await routeView(api, 'orders')).paused, false);

    for (const action of ['pause', 'resume']) {
      const missing = expectStatus(
        await api.post<ErrorAnswer>(`/api/routes/no-such-route/${action}`),
        404,
      );
      assert.match(missing.json.error, /no-such-route/);
    }
  });
});
