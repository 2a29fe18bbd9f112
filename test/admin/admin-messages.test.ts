/**
 * The admin API of SPEC §6 against a running hookq: who may call it, what each call
 * does to real messages flowing to a real target, and the 400 that names the field for
 * every malformed request (SPEC §2.8).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { z } from 'zod';
import type {
  BlockedGroupPage,
  Discarded,
  MessagePage,
  MessageView,
  PauseState,
  RedriveResult,
  Replayed,
  Routes,
} from '../../src/admin/schemas.js';
import { OPERATIONS } from '../../src/admin/schemas.js';
import { ConfigError } from '../../src/core/errors.js';
import { configFor, tempDir } from '../helpers/config.js';
import { send, sendRaw } from '../ingress/http.js';
import {
  type AdminApi,
  delay,
  expectStatus,
  messageIds,
  refusingUrl,
  rejectingUrl,
  type Started,
  scrape,
  seriesValue,
  startAdmin,
  TOKEN,
  waitUntil,
  webhook,
} from './support.js';

type RoutesAnswer = z.output<typeof Routes>;
type RouteAnswer = RoutesAnswer['routes'][number];
type PageAnswer = z.output<typeof MessagePage>;
type Summary = PageAnswer['items'][number];
type ErrorAnswer = { error: string; field?: string };

/** Each operation of the API as a method and a path template, from the list the document is made of. */
function operations(which: 'api' | 'open') {
  return Object.entries(OPERATIONS).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([, operation]) => Boolean(operation.open) === (which === 'open'))
      .map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })),
  );
}

/** A path template with its parameters filled in; a parameter with no value fails the test. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    assert.ok(value !== undefined, `no test value for path parameter {${name}} of ${template}`);
    return encodeURIComponent(value);
  });
}

async function routeView(api: AdminApi, name: string): Promise<RouteAnswer> {
  const answer = expectStatus(await api.get<RoutesAnswer>('/api/routes'), 200);
  const route = answer.json.routes.find((r) => r.name === name);
  assert.ok(route, `route ${name} missing from ${answer.text}`);
  return route;
}

/** A route's view without the settings that name it. */
function countsOf(route: RouteAnswer) {
  const { name: _name, path: _path, target: _target, ...counts } = route;
  return counts;
}

async function list(api: AdminApi, query: Record<string, string | number>): Promise<PageAnswer> {
  return expectStatus(await api.get<PageAnswer>('/api/messages', query), 200).json;
}

/** Every page of a listing, following nextCursor, with the pages' sizes. */
async function walk(
  api: AdminApi,
  query: Record<string, string | number>,
): Promise<{ items: Summary[]; sizes: number[] }> {
  const items: Summary[] = [];
  const sizes: number[] = [];
  let cursor: string | null = null;
  do {
    const page: PageAnswer = await list(api, cursor === null ? query : { ...query, cursor });
    items.push(...page.items);
    sizes.push(page.items.length);
    cursor = page.nextCursor;
    assert.ok(sizes.length < 100, 'the cursor never ran out');
  } while (cursor !== null);
  return { items, sizes };
}

async function stateOf(started: Started, id: string): Promise<string | undefined> {
  return (await started.hookq.store.getMessage(id))?.state;
}

async function deadCount(api: AdminApi, route?: string): Promise<number> {
  return (await list(api, { state: 'dead', limit: 1000, ...(route ? { route } : {}) })).items
    .length;
}

/** A target that fails bodies containing "poison" until `healthy` is set. */
function poisonTarget() {
  const state = { healthy: false };
  const behaviour = (received: { body: Buffer }) =>
    !state.healthy && received.body.includes('poison')
      ? { status: 500, body: 'cannot take it' }
      : 200;
  return { state, behaviour };
}

const ONE_ATTEMPT = { maxAttempts: 1 };
const BY_HEADER = { header: 'X-Group' };

describe('who may call the admin API', () => {
  test('every /api operation refuses a missing or wrong token with 401 and changes nothing', async (t) => {
    const started = await startAdmin(
      t,
      { routes: [{ name: 'orders', path: '/orders', retry: ONE_ATTEMPT }] },
      { behaviour: () => 500 },
    );
    const { hookq, api } = started;
    const id = await webhook(hookq, '/orders', '{"n":1}');
    await waitUntil(
      'the message is a dead letter',
      async () => (await stateOf(started, id)) === 'dead',
    );

    const refused: Array<[how: string, authorization: string | null]> = [
      ['no Authorization header', null],
      ['an empty bearer token', 'Bearer '],
      ['a wrong token', 'Bearer wrong'],
      ['the token with its last character changed', `Bearer ${TOKEN.slice(0, -1)}X`],
      ['the token with a character added', `Bearer ${TOKEN}0`],
      [
        'the token as Basic credentials',
        `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`,
      ],
      ['the token under another scheme', `Token ${TOKEN}`],
      ['the token without a scheme', TOKEN],
    ];
    const guarded = operations('api');
    assert.ok(guarded.length >= 10, `only ${guarded.length} operations listed`);
    const values = { id, name: 'orders' };
    for (const { path, method, operation } of guarded) {
      for (const [how, authorization] of refused) {
        const answer = await api.call(method, fill(path, values), {
          authorization,
          ...(operation.body ? { body: { ids: [id] } } : {}),
        });
        const what = `${method} ${path} with ${how}`;
        assert.equal(answer.status, 401, `${what}: ${answer.text}`);
        assert.equal(answer.headers.get('www-authenticate'), 'Bearer', what);
        assert.match(String(answer.headers.get('content-type')), /^application\/json/, what);
        assert.equal(typeof (answer.json as ErrorAnswer).error, 'string', what);
      }
    }

    // The same handlers reached through a percent-encoded path or an absolute-form
    // request target must not get past the check either.
    const encoded = await send(`${hookq.adminUrl}/%61pi/routes/orders/pause`, { method: 'POST' });
    assert.equal(encoded.status, 401, encoded.text);
    const { host } = new URL(hookq.adminUrl);
    const absolute = await sendRaw(
      hookq.adminUrl,
      `DELETE http://${host}/api/messages/${id} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(absolute.status, 401, absolute.text);

    assert.equal(await stateOf(started, id), 'dead', 'a refused call discarded or redrove');
    assert.equal((await routeView(api, 'orders')).paused, false, 'a refused call paused');

    // With the token every operation gets past the check (whatever it then answers).
    for (const { path, method, operation } of guarded) {
      const answer = await api.call(method, fill(path, values), {
        ...(operation.body ? { body: { ids: [id] } } : {}),
      });
      assert.notEqual(answer.status, 401, `${method} ${path}: ${answer.text}`);
    }
    // RFC 7235: the scheme name is case-insensitive.
    expectStatus(await api.call('GET', '/api/routes', { authorization: `bearer ${TOKEN}` }), 200);
  });

  test('health, readiness and metrics need no token', async (t) => {
    const { api } = await startAdmin(t, { routes: [{ name: 'orders', path: '/orders' }] });
    const open = operations('open');
    assert.deepEqual(open.map((o) => o.path).sort(), ['/healthz', '/metrics', '/readyz']);
    for (const { path, method } of open) {
      for (const authorization of [null, 'Bearer wrong']) {
        const answer = await api.call(method, path, { authorization });
        assert.equal(answer.status, 200, `${method} ${path} with ${authorization}: ${answer.text}`);
      }
    }
  });

  test('without a configured token on loopback, calls need no header', async (t) => {
    const { api } = await startAdmin(
      t,
      { routes: [{ name: 'orders', path: '/orders' }] },
      { token: null },
    );
    expectStatus(await api.call('GET', '/api/routes', { authorization: null }), 200);
    const paused = await api.call<z.output<typeof PauseState>>('POST', '/api/routes/orders/pause', {
      authorization: null,
    });
    assert.deepEqual(expectStatus(paused, 200).json, { route: 'orders', paused: true });
    expectStatus(await api.call('GET', '/api/openapi.json', { authorization: null }), 200);
    // Any header is ignored when there is no token to check it against.
    expectStatus(await api.call('GET', '/api/routes', { authorization: 'Bearer anything' }), 200);
  });

  test('a non-loopback admin address without a token is refused at start-up', (t) => {
    const dir = tempDir('hookq-admin-config-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const routes = [{ name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/' }];
    for (const listen of ['0.0.0.0:0', '192.0.2.10:8081']) {
      assert.throws(
        () => configFor(dir, { admin: { listen }, routes }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.key, 'admin.token');
          assert.match(error.message, /admin\.token/);
          return true;
        },
        listen,
      );
    }
    // Loopback may go without; any address may go with one.
    assert.equal(configFor(dir, { admin: { listen: '127.0.0.1:0' }, routes }).admin.token, null);
    const withToken = configFor(dir, { admin: { listen: '0.0.0.0:0', token: TOKEN }, routes });
    assert.equal(withToken.admin.token, TOKEN);
  });
});

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
      oldestAgeSeconds: 0,
      state: 'idle',
      health: up,
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

  test('GET /api/messages pages by route, state and group without gaps or repeats', async (t) => {
    const rejecting = await rejectingUrl(t);
    const started = await startAdmin(t, {
      routes: [
        { name: 'orders', path: '/orders', group: BY_HEADER },
        { name: 'billing', path: '/billing', group: BY_HEADER },
        { name: 'failing', path: '/failing', target: rejecting, retry: ONE_ATTEMPT },
      ],
    });
    const { hookq, api } = started;
    expectStatus(await api.post('/api/routes/billing/pause'), 200);
    const orders: string[] = [];
    const billing: Array<{ id: string; group: string }> = [];
    for (let n = 0; n < 5; n++) {
      orders.push(await webhook(hookq, '/orders', `{"o":${n}}`, { 'x-group': `g${n % 2}` }));
    }
    for (let n = 0; n < 7; n++) {
      const group = `g${n % 3}`;
      billing.push({
        id: await webhook(hookq, '/billing', `{"b":${n}}`, { 'x-group': group }),
        group,
      });
    }
    const failing = await webhook(hookq, '/failing', '{"f":1}');
    await waitUntil('orders delivered and the failing one dead', async () => {
      const states = await Promise.all([...orders, failing].map((id) => stateOf(started, id)));
      return states.every((s, i) => s === (i < orders.length ? 'delivered' : 'dead'));
    });

    // Everything, two at a time: each message once, in (route, sequence) order.
    const all = await walk(api, { limit: 2 });
    assert.deepEqual(all.sizes, [2, 2, 2, 2, 2, 2, 1]);
    const ids = all.items.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'a message came twice');
    assert.deepEqual(ids, [...billing.map((b) => b.id), failing, ...orders]);
    const keys = all.items.map((m) => [m.route, Number(m.sequence)] as const);
    for (let i = 1; i < keys.length; i++) {
      const [route, sequence] = keys[i]!;
      const [previousRoute, previousSequence] = keys[i - 1]!;
      assert.ok(
        route > previousRoute || (route === previousRoute && sequence > previousSequence),
        `out of order at ${i}: ${JSON.stringify(keys)}`,
      );
    }
    // One page holds them all by default.
    const single = await list(api, {});
    assert.deepEqual(
      single.items.map((m) => m.id),
      ids,
    );
    assert.equal(single.nextCursor, null);

    const queued = await walk(api, { route: 'billing', state: 'queued', limit: 3 });
    assert.deepEqual(queued.sizes, [3, 3, 1]);
    assert.deepEqual(
      queued.items.map((m) => m.id),
      billing.map((b) => b.id),
    );
    for (const item of queued.items) {
      assert.equal(item.route, 'billing');
      assert.equal(item.state, 'queued');
      assert.equal(item.attempts, 0);
      assert.equal(item.lastError, null);
      assert.match(item.sequence, /^[1-9][0-9]*$/);
    }

    const g1 = await walk(api, { route: 'billing', group: 'g1', limit: 1 });
    assert.deepEqual(
      g1.items.map((m) => m.id),
      billing.filter((b) => b.group === 'g1').map((b) => b.id),
    );
    assert.ok(g1.items.every((m) => m.group === 'g1'));

    const delivered = await list(api, { state: 'delivered' });
    assert.deepEqual(
      delivered.items.map((m) => m.id),
      orders,
    );
    assert.ok(delivered.items.every((m) => m.state === 'delivered' && m.attempts === 1));

    const dead = await list(api, { state: 'dead' });
    assert.deepEqual(
      dead.items.map((m) => [m.id, m.state, m.attempts]),
      [[failing, 'dead', 1]],
    );
    assert.equal(dead.items[0]?.lastError, 'HTTP 500', 'a dead letter shows its last error');

    assert.deepEqual((await list(api, { state: 'inflight' })).items, []);
    assert.deepEqual((await list(api, { route: 'orders', state: 'queued' })).items, []);
  });

  test('GET /api/messages/{id} shows headers, body and the attempt history', async (t) => {
    const refusing = await refusingUrl();
    const { hookq, api, target } = await startAdmin(
      t,
      {
        routes: [
          {
            name: 'orders',
            path: '/orders',
            retry: { maxAttempts: 3, backoff: { initial: '50ms', max: '100ms' } },
          },
          {
            name: 'down',
            path: '/down',
            target: refusing,
            retry: { maxAttempts: 1, backoff: { initial: '50ms', max: '50ms' } },
          },
        ],
      },
      {
        behaviour: (r) =>
          r.headers['hookq-attempt'] === '1' && r.body.includes('retry')
            ? { status: 503, body: 'busy, try later' }
            : 200,
      },
    );
    const text = '{"greeting":"héllo wörld","do":"retry"}';
    const textId = await webhook(hookq, '/orders', text, { 'x-custom-header': 'one' });
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
    const binaryId = await webhook(hookq, '/orders', binary, {
      'content-type': 'application/octet-stream',
    });
    const downId = await webhook(hookq, '/down', '{"n":1}');
    await target.waitFor((received) => received.length === 3);
    type View = z.output<typeof MessageView>;
    const view = async (id: string) =>
      expectStatus(await api.get<View>(`/api/messages/${id}`), 200).json;
    await waitUntil('both delivered', async () =>
      (await Promise.all([textId, binaryId].map(view))).every((m) => m.state === 'delivered'),
    );
    // A refused attempt is never charged while the route delivers nothing (SPEC §5a): the
    // message goes past maxAttempts and still waits. Caught between two attempts:
    let down = await view(downId);
    await waitUntil('the refused message tried twice and waiting again', async () => {
      down = await view(downId);
      return down.history.length >= 2 && down.state === 'queued';
    });

    const shown = await view(textId);
    assert.equal(shown.id, textId);
    assert.equal(shown.route, 'orders');
    assert.equal(shown.state, 'delivered');
    assert.equal(shown.attempts, 2);
    assert.equal(shown.body, text);
    assert.equal(shown.bodyEncoding, 'utf8');
    assert.equal(shown.bodyBytes, Buffer.byteLength(text));
    assert.ok(
      shown.headers.some(([name, value]) => name === 'x-custom-header' && value === 'one'),
      JSON.stringify(shown.headers),
    );
    assert.ok(
      shown.headers.some(
        ([name, value]) => name === 'content-type' && value === 'application/json',
      ),
    );
    assert.deepEqual(
      shown.history.map((a) => [a.number, a.outcome, a.status, a.error, a.responseExcerpt]),
      [
        [1, 'http_error', 503, 'HTTP 503', 'busy, try later'],
        [2, 'delivered', 200, null, 'ok'],
      ],
    );
    for (const attempt of shown.history) {
      assert.ok(Number.isFinite(Date.parse(attempt.startedAt)), attempt.startedAt);
      assert.ok(attempt.durationMs >= 0);
    }

    const bytes = await view(binaryId);
    assert.equal(bytes.bodyEncoding, 'base64');
    assert.equal(bytes.body, binary.toString('base64'));
    assert.deepEqual([...Buffer.from(bytes.body, 'base64')], [...binary]);
    assert.equal(bytes.bodyBytes, binary.length);

    assert.equal(down.deadReason, null, 'a refused message was dead-lettered');
    assert.equal(down.finishedAt, null);
    assert.equal(down.attempts, down.history.length, 'the count and the history differ');
    down.history.forEach((attempt, i) => {
      assert.equal(attempt.number, i + 1);
      assert.equal(attempt.outcome, 'network_error');
      assert.equal(attempt.status, null);
      assert.equal(attempt.responseExcerpt, null);
      assert.match(String(attempt.error), /ECONNREFUSED/, 'a network error is described');
    });
    assert.equal(
      down.lastError,
      down.history.at(-1)?.error,
      "the last error is the last attempt's",
    );

    const missing = expectStatus(await api.get<ErrorAnswer>('/api/messages/no-such-message'), 404);
    assert.match(missing.json.error, /no-such-message/);
  });

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

  test('POST /api/messages/{id}/replay delivers a delivered message again as a new message', async (t) => {
    const rejecting = await rejectingUrl(t);
    const started = await startAdmin(t, {
      routes: [
        { name: 'orders', path: '/orders' },
        { name: 'failing', path: '/failing', target: rejecting, retry: ONE_ATTEMPT },
        { name: 'held', path: '/held' },
      ],
    });
    const { hookq, api, target } = started;
    const body = '{"order":42}';
    const original = await webhook(hookq, '/orders', body);
    await waitUntil('delivered', async () => (await stateOf(started, original)) === 'delivered');
    const originalSequence = Number((await hookq.store.getMessage(original))?.sequence);

    const replayed = expectStatus(
      await api.post<z.output<typeof Replayed>>(`/api/messages/${original}/replay`),
      200,
    ).json;
    assert.notEqual(replayed.messageId, original);
    assert.ok(Number(replayed.sequence) > originalSequence, replayed.sequence);
    await target.waitFor((received) => received.length === 2);
    const [first, again] = target.received;
    assert.equal(first?.headers['hookq-message-id'], original);
    assert.equal(again?.headers['hookq-message-id'], replayed.messageId);
    assert.equal(again?.headers['hookq-sequence'], replayed.sequence);
    assert.equal(again?.body.toString(), body);
    const copy = expectStatus(
      await api.get<z.output<typeof MessageView>>(`/api/messages/${replayed.messageId}`),
      200,
    ).json;
    assert.equal(copy.replayOf, original);
    assert.equal(copy.body, body);

    expectStatus(await api.post('/api/messages/no-such-message/replay'), 404);

    const dead = await webhook(hookq, '/failing', '{"n":1}');
    await waitUntil('dead', async () => (await stateOf(started, dead)) === 'dead');
    const refused = expectStatus(await api.post<ErrorAnswer>(`/api/messages/${dead}/replay`), 409);
    assert.match(refused.json.error, /dead/);

    expectStatus(await api.post('/api/routes/held/pause'), 200);
    const queued = await webhook(hookq, '/held', '{"n":1}');
    expectStatus(await api.post(`/api/messages/${queued}/replay`), 409);

    // Refused replays enqueued nothing.
    assert.equal((await list(api, { route: 'failing' })).items.length, 1);
    assert.equal((await list(api, { route: 'held' })).items.length, 1);
    assert.equal((await list(api, { route: 'orders' })).items.length, 2);
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

  test('/healthz is alive; /readyz answers 503 once storage cannot answer', async (t) => {
    const { hookq, api } = await startAdmin(t, { routes: [{ name: 'orders', path: '/orders' }] });
    const health = async (path: string) => {
      const answer = await api.call<{ status: string; error?: string }>('GET', path, {
        authorization: null,
      });
      assert.match(String(answer.headers.get('content-type')), /^application\/json/);
      return answer;
    };
    assert.deepEqual(expectStatus(await health('/healthz'), 200).json, { status: 'ok' });
    assert.deepEqual(expectStatus(await health('/readyz'), 200).json, { status: 'ready' });

    // SQLite's probe answers on the open connection even while another connection holds
    // the database's write lock, so the failure a test can cause is the store itself
    // going away under the running listener.
    await hookq.store.close();
    const unready = expectStatus(await health('/readyz'), 503).json;
    assert.equal(unready.status, 'unavailable');
    assert.match(String(unready.error), /closed/);
    // Liveness does not depend on storage: restarting would not bring it back.
    assert.deepEqual(expectStatus(await health('/healthz'), 200).json, { status: 'ok' });
  });
});

describe('malformed requests', () => {
  test('each bad input is answered 400 naming the field, and changes nothing', async (t) => {
    const started = await startAdmin(
      t,
      { routes: [{ name: 'orders', path: '/orders', retry: ONE_ATTEMPT }] },
      { behaviour: () => 500 },
    );
    const { hookq, api } = started;
    const dead = await webhook(hookq, '/orders', '{"n":1}');
    await waitUntil('a dead letter', async () => (await stateOf(started, dead)) === 'dead');
    const cursorOf = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');

    const cases: Array<{
      what: string;
      field: string;
      call: () => Promise<{ status: number; json: unknown; text: string }>;
    }> = [];
    const messages = (query: Record<string, string | number>, field: string) =>
      cases.push({
        what: `messages ${JSON.stringify(query)}`,
        field,
        call: () => api.get('/api/messages', query),
      });
    const blocked = (query: Record<string, string | number>, field: string) =>
      cases.push({
        what: `blocked groups ${JSON.stringify(query)}`,
        field,
        call: () => api.get('/api/groups/blocked', query),
      });
    const redrive = (what: string, field: string, body: { json?: unknown; raw?: string }) =>
      cases.push({
        what: `redrive ${what}`,
        field,
        call: () =>
          api.call('POST', '/api/redrive', {
            ...(body.raw === undefined ? { body: body.json } : { rawBody: body.raw }),
          }),
      });

    messages({ state: 'nope' }, 'state');
    messages({ limit: 0 }, 'limit');
    messages({ limit: 'abc' }, 'limit');
    messages({ limit: 5000 }, 'limit');
    messages({ limit: '1.5' }, 'limit');
    messages({ colour: 'red' }, 'colour');
    messages({ route: '' }, 'route');
    messages({ cursor: 'garbage' }, 'cursor');
    messages({ cursor: cursorOf(['orders']) }, 'cursor');
    // A blocked-groups cursor is no messages cursor.
    messages({ cursor: cursorOf([1, 'A']) }, 'cursor');
    blocked({}, 'route');
    blocked({ route: 'orders', limit: 0 }, 'limit');
    blocked({ route: 'orders', cursor: 'garbage' }, 'cursor');
    blocked({ route: 'orders', state: 'dead' }, 'state');
    redrive('with nothing to select', 'body', { json: {} });
    redrive('with a group but no route', 'group', { json: { group: 'A' } });
    redrive('with no ids', 'ids', { json: { ids: [] } });
    redrive('with ids not a list', 'ids', { json: { ids: 'x' } });
    redrive('with ids and a route', 'ids', { json: { ids: [dead], route: 'orders' } });
    redrive('with ids and all', 'ids', { json: { ids: [dead], all: true } });
    redrive('with all: false', 'all', { json: { all: false } });
    redrive('with an unknown field', 'colour', { json: { all: true, colour: 'red' } });
    redrive('with limit 0', 'limit', { json: { all: true, limit: 0 } });
    redrive('with a fractional limit', 'limit', { json: { all: true, limit: 1.5 } });
    redrive('with a route not a string', 'route', { json: { route: 7 } });
    redrive('with too many ids', 'ids', {
      json: { ids: Array.from({ length: 1001 }, (_, i) => (i === 0 ? dead : `id-${i}`)) },
    });
    redrive('with malformed JSON', 'body', { raw: '{"all": tr' });
    redrive('with an empty JSON body', 'body', { raw: '' });
    redrive('with a JSON list', 'body', { raw: `["${dead}"]` });

    for (const { what, field, call } of cases) {
      const answer = await call();
      assert.equal(answer.status, 400, `${what}: ${answer.text}`);
      const json = answer.json as ErrorAnswer;
      assert.deepEqual(
        Object.keys(json ?? {}).sort(),
        ['error', 'field'],
        `${what}: ${answer.text}`,
      );
      assert.equal(json.field, field, `${what}: ${answer.text}`);
      assert.ok(
        json.error.includes(field),
        `${what}: the message does not name ${field}: ${json.error}`,
      );
    }

    assert.equal(await stateOf(started, dead), 'dead', 'a refused redrive moved the dead letter');
    assert.equal((await list(api, {})).items.length, 1);
  });
});
