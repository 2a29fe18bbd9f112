/**
 * The Prometheus metrics of SPEC §8, scraped from /metrics like Prometheus does: each
 * counter moves by exactly what the traffic did, and the queue gauges follow the
 * messages as they wait, fly, fail, expire and leave.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { delay, waitUntil } from '../helpers/async.js';
import { send } from '../ingress/http.js';
import {
  type AdminApi,
  expectStatus,
  refusingUrl,
  type Sample,
  scrape,
  seriesValue,
  startAdmin,
  webhook,
} from './support.js';

/** A counter's movement between two scrapes. */
function delta(
  before: readonly Sample[],
  after: readonly Sample[],
  name: string,
  labels: Record<string, string>,
): number {
  return seriesValue(after, name, labels) - seriesValue(before, name, labels);
}

/** The queue gauges of one route, as one scrape shows them. */
async function gauges(api: AdminApi, route: string) {
  const samples = await scrape(api);
  const state = (s: string) => seriesValue(samples, 'hookq_messages', { route, state: s });
  return {
    queued: state('queued'),
    inflight: state('inflight'),
    dead: state('dead'),
    delivered: state('delivered'),
    blocked: seriesValue(samples, 'hookq_blocked_groups', { route }),
    oldest: seriesValue(samples, 'hookq_oldest_message_age_seconds', { route }),
  };
}

test('counters move by exactly what the traffic did', async (t) => {
  const refusing = await refusingUrl();
  const twoTries = { maxAttempts: 2, backoff: { initial: '50ms', max: '50ms' } };
  const oneTry = { maxAttempts: 1, backoff: { initial: '50ms', max: '50ms' } };
  // Refused connections and timeouts are never charged while a route delivers nothing
  // (SPEC §5a), so those messages would be tried forever; a breaker whose first probe is
  // an hour away stops them after a known number of attempts.
  const stopAfter = (after: number) => ({ after, probe: { initial: '1h', max: '1h' } });
  const { hookq, api } = await startAdmin(
    t,
    {
      routes: [
        { name: 'ok', path: '/ok', maxBodyBytes: 64 },
        { name: 'http', path: '/http', retry: twoTries },
        {
          name: 'net',
          path: '/net',
          target: refusing,
          retry: oneTry,
          delivery: { breaker: stopAfter(2) },
        },
        {
          name: 'slow',
          path: '/slow',
          retry: oneTry,
          delivery: { timeout: '300ms', breaker: stopAfter(1) },
        },
        { name: 'signed', path: '/signed', verify: { scheme: 'github', secret: 'shh' } },
      ],
    },
    {
      behaviour: (r) =>
        r.headers['hookq-route'] === 'http'
          ? { status: 500, body: 'broken' }
          : r.headers['hookq-route'] === 'slow'
            ? 'hang'
            : 200,
    },
  );
  const before = await scrape(api);

  for (const n of [1, 2, 3]) await webhook(hookq, '/ok', `{"n":${n}}`);
  for (let i = 0; i < 2; i++) {
    const again = await send(`${hookq.ingressUrl}/ok`, { body: Buffer.from('{"n":1}') });
    assert.equal(again.json?.duplicate, true, again.text);
  }
  const refusals: Array<[path: string, status: number, method?: string, size?: number]> = [
    ['/ok', 413, 'POST', 100],
    ['/ok', 405, 'GET'],
    ['/nowhere', 404],
    ['/signed', 401],
  ];
  for (const [path, status, method = 'POST', size = 10] of refusals) {
    const answer = await send(`${hookq.ingressUrl}${path}`, {
      method,
      ...(method === 'POST' ? { body: Buffer.alloc(size, 0x61) } : {}),
    });
    assert.equal(answer.status, status, `${method} ${path}: ${answer.text}`);
  }
  const charged = await webhook(hookq, '/http', '{"h":1}');
  const waiting = {
    net: await webhook(hookq, '/net', '{"n":1}'),
    slow: await webhook(hookq, '/slow', '{"s":1}'),
  };
  await waitUntil(
    'the rejected message dead, the others held by a target that is down',
    async () => {
      const delivered = await api.get<{ items: unknown[] }>('/api/messages', {
        route: 'ok',
        state: 'delivered',
      });
      const samples = await scrape(api);
      const states = await Promise.all(
        [charged, waiting.net, waiting.slow].map(
          async (id) => (await hookq.store.getMessage(id))?.state,
        ),
      );
      return (
        delivered.json.items.length === 3 &&
        states.join() === 'dead,queued,queued' &&
        seriesValue(samples, 'hookq_target_up', { route: 'net' }) === 0 &&
        seriesValue(samples, 'hookq_target_up', { route: 'slow' }) === 0 &&
        seriesValue(samples, 'hookq_deliveries_total', {
          route: 'net',
          outcome: 'network_error',
        }) >= 2 &&
        seriesValue(samples, 'hookq_deliveries_total', { route: 'slow', outcome: 'timeout' }) >= 1
      );
    },
  );
  // Long enough for a retry (50 ms) or a timeout (300 ms) that should not happen to show.
  await delay(600);
  const after = await scrape(api);
  const moved = (name: string, labels: Record<string, string>) =>
    delta(before, after, name, labels);

  const received = 'hookq_messages_received_total';
  assert.equal(moved(received, { route: 'ok' }), 3);
  for (const route of ['http', 'net', 'slow']) assert.equal(moved(received, { route }), 1, route);
  assert.equal(moved(received, { route: 'signed' }), 0);
  assert.equal(moved('hookq_messages_duplicate_total', { route: 'ok' }), 2);

  const rejected = 'hookq_messages_rejected_total';
  assert.equal(moved(rejected, { route: 'ok', reason: 'too_large' }), 1);
  assert.equal(moved(rejected, { route: 'ok', reason: 'method' }), 1);
  assert.equal(moved(rejected, { route: '', reason: 'not_found' }), 1);
  assert.equal(moved(rejected, { route: 'signed', reason: 'signature' }), 1);
  assert.equal(
    after.filter((s) => s.name === rejected).reduce((sum, s) => sum + s.value, 0),
    4,
    'other refusals counted',
  );

  const deliveries = 'hookq_deliveries_total';
  const outcomes = { ok: 'delivered', http: 'http_error', net: 'network_error', slow: 'timeout' };
  const attempts = { ok: 3, http: 2, net: 2, slow: 1 };
  for (const [route, outcome] of Object.entries(outcomes)) {
    const count = attempts[route as keyof typeof attempts];
    assert.equal(moved(deliveries, { route, outcome }), count, `${route} ${outcome}`);
    const all = after
      .filter((s) => s.name === deliveries && s.labels.route === route)
      .reduce((sum, s) => sum + s.value, 0);
    assert.equal(all, count, `${route}: attempts counted under another outcome`);
    assert.equal(
      moved('hookq_delivery_duration_seconds_count', { route }),
      count,
      `${route} durations`,
    );
  }
  // A timed-out attempt lasted at least the timeout.
  assert.ok(moved('hookq_delivery_duration_seconds_sum', { route: 'slow' }) >= 0.3);
  assert.equal(
    seriesValue(after, 'hookq_delivery_duration_seconds_bucket', { route: 'slow', le: '0.25' }),
    0,
  );
  assert.equal(
    seriesValue(after, 'hookq_delivery_duration_seconds_bucket', { route: 'slow', le: '+Inf' }),
    1,
  );

  // The attempts counted are the attempts recorded: past maxAttempts for the held ones.
  for (const [route, id] of Object.entries(waiting)) {
    const history = (await hookq.store.getMessage(id))?.history ?? [];
    assert.deepEqual(
      history.map((a) => a.outcome),
      Array(attempts[route as keyof typeof attempts]).fill(
        outcomes[route as keyof typeof outcomes],
      ),
      route,
    );
  }

  const messages = (route: string, state: string) =>
    seriesValue(after, 'hookq_messages', { route, state });
  assert.equal(messages('ok', 'delivered'), 3);
  assert.equal(messages('http', 'dead'), 1, 'a rejection is charged');
  assert.equal(messages('http', 'queued'), 0);
  for (const route of ['net', 'slow']) {
    assert.equal(messages(route, 'dead'), 0, `${route}: an outage dead-lettered a message`);
    assert.equal(messages(route, 'queued'), 1, route);
  }
  const up = (route: string) => seriesValue(after, 'hookq_target_up', { route });
  assert.deepEqual(
    ['ok', 'http', 'net', 'slow', 'signed'].map((route) => [route, up(route)]),
    [
      ['ok', 1],
      ['http', 1],
      ['net', 0],
      ['slow', 0],
      ['signed', 1],
    ],
    'a rejection leaves the target up; refusals and timeouts take it down',
  );
});

test('queue gauges follow messages as they wait, fly, fail and leave', async (t) => {
  const healthy = { now: false };
  const { hookq, api } = await startAdmin(
    t,
    {
      routes: [
        {
          name: 'orders',
          path: '/orders',
          group: { header: 'X-Group' },
          retry: { maxAttempts: 1 },
          delivery: { timeout: '1s' },
        },
      ],
    },
    {
      behaviour: (r) =>
        healthy.now
          ? 200
          : r.body.includes('poison')
            ? 500
            : r.body.includes('hang')
              ? 'hang'
              : 200,
    },
  );
  const idle = { queued: 0, inflight: 0, dead: 0, delivered: 0, blocked: 0, oldest: 0 };
  assert.deepEqual(await gauges(api, 'orders'), idle);

  expectStatus(await api.post('/api/routes/orders/pause'), 200);
  const poisoned = await webhook(hookq, '/orders', '{"poison":true}', { 'x-group': 'A' });
  await webhook(hookq, '/orders', '{"after":true}', { 'x-group': 'A' });
  const hanging = await webhook(hookq, '/orders', '{"hang":true}', { 'x-group': 'H' });
  // A timeout counts toward maxAttempts only if the route delivered another message
  // since (SPEC §5a): this one, while the hanging attempt waits for its timeout.
  await webhook(hookq, '/orders', '{"fine":true}', { 'x-group': 'F' });
  await delay(100);
  const waiting = await gauges(api, 'orders');
  assert.deepEqual({ ...waiting, oldest: 0 }, { ...idle, queued: 4 });
  assert.ok(waiting.oldest >= 0.1, `oldest ${waiting.oldest}s`);
  await delay(200);
  const later = (await gauges(api, 'orders')).oldest;
  assert.ok(later >= waiting.oldest + 0.15, `the age did not grow: ${waiting.oldest}s, ${later}s`);

  expectStatus(await api.post('/api/routes/orders/resume'), 200);
  let now = waiting;
  await waitUntil('one dead letter, one in flight, one delivered', async () => {
    now = await gauges(api, 'orders');
    return now.dead === 1 && now.inflight === 1 && now.delivered === 1;
  });
  assert.equal(now.queued, 1, 'the message behind the dead letter waits');
  assert.equal(now.blocked, 1);
  assert.ok(now.oldest > 0);

  await waitUntil('the hanging attempt timed out', async () => {
    now = await gauges(api, 'orders');
    return now.dead === 2;
  });
  assert.deepEqual(
    { ...now, oldest: 0 },
    { ...idle, queued: 1, dead: 2, delivered: 1, blocked: 2 },
  );

  healthy.now = true;
  expectStatus(await api.delete(`/api/messages/${hanging}`), 200);
  assert.equal((await gauges(api, 'orders')).blocked, 1);
  expectStatus(await api.post('/api/redrive', { ids: [poisoned] }), 200);
  await waitUntil('both delivered', async () => {
    now = await gauges(api, 'orders');
    return now.delivered === 3;
  });
  assert.deepEqual(now, { ...idle, delivered: 3 }, 'nothing waits, so the oldest age is 0');
});

test('retention counts expired messages and the dead letters it deletes', async (t) => {
  const refusing = await refusingUrl();
  const { hookq, api } = await startAdmin(
    t,
    {
      routes: [
        {
          name: 'expiring',
          path: '/expiring',
          target: refusing,
          retry: { maxAttempts: 1000, backoff: { initial: '100ms', max: '200ms' } },
          retention: { queued: '300ms', deadLetter: '300ms' },
        },
        { name: 'kept', path: '/kept' },
      ],
    },
    { start: { sweepIntervalMs: 50 } },
  );
  const before = await scrape(api);
  const expired = 'hookq_messages_expired_total';
  const deleted = 'hookq_dead_letters_deleted_total';
  const retention = { route: 'expiring', by: 'retention' };
  assert.equal(seriesValue(before, expired, { route: 'expiring' }), 0);
  assert.equal(seriesValue(before, deleted, retention), 0);

  // Both are acknowledged (webhook checks the 200); the gauges are not read here, since
  // on a busy machine the first can expire before the second is answered.
  await webhook(hookq, '/expiring', '{"n":1}');
  await webhook(hookq, '/expiring', '{"n":2}');

  let samples = before;
  await waitUntil('both expired into the dead-letter queue', async () => {
    samples = await scrape(api);
    return seriesValue(samples, expired, { route: 'expiring' }) === 2;
  });
  await waitUntil('both dead letters deleted', async () => {
    samples = await scrape(api);
    return seriesValue(samples, deleted, retention) === 2;
  });
  assert.equal(delta(before, samples, expired, { route: 'expiring' }), 2);
  assert.equal(delta(before, samples, deleted, retention), 2);
  assert.equal(seriesValue(samples, deleted, { route: 'expiring', by: 'operator' }), 0);
  assert.equal(seriesValue(samples, expired, { route: 'kept' }), 0);
  assert.deepEqual(await gauges(api, 'expiring'), {
    queued: 0,
    inflight: 0,
    dead: 0,
    delivered: 0,
    blocked: 0,
    oldest: 0,
  });
});
