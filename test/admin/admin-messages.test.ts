/**
 * The admin API's messages (SPEC §6) against a running hookq: listing them page by page,
 * one message with its headers, body and attempts, and replaying a delivered one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { z } from 'zod';
import type { MessageView, Replayed } from '../../src/admin/schemas.js';
import { waitUntil } from '../helpers/async.js';
import {
  type AdminApi,
  BY_HEADER,
  type ErrorAnswer,
  expectStatus,
  list,
  ONE_ATTEMPT,
  type PageAnswer,
  refusingUrl,
  rejectingUrl,
  startAdmin,
  stateOf,
  webhook,
} from './support.js';

type Summary = PageAnswer['items'][number];

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

describe('what each call does', () => {
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
});
