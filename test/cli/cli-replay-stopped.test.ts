/**
 * A bulk replay that the storage stops part of the way says how far it got, and going on
 * from there copies every remaining message once and none of the others again: through
 * the API (its cursor) and through the CLI (the command it prints).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageUnavailableError } from '../../src/core/errors.js';
import type { Store } from '../../src/store/store.js';
import { type AdminApi, expectStatus, startAdmin, TOKEN, webhook } from '../admin/support.js';
import { waitUntil } from '../helpers/async.js';
import { runHookq } from '../helpers/hookq-process.js';

const SENT = 100;
/** The storage goes away at this replay call and stays away until `back`. */
const FAILS_FROM = 40;

/** Make the store refuse every replay from the `from`-th on; returns the function that ends it. */
function storageGoesAway(store: Store, from: number): () => void {
  const replay = store.replay.bind(store);
  let calls = 0;
  store.replay = (id) =>
    ++calls >= from ? Promise.reject(new StorageUnavailableError('the disk is full')) : replay(id);
  return () => {
    store.replay = replay;
  };
}

/** The originals the route's copies were made of, in the order the copies were queued. */
async function copiesOf(api: AdminApi): Promise<string[]> {
  const originals: string[] = [];
  let cursor: string | undefined;
  do {
    const page = expectStatus(
      await api.get<{
        items: Array<{ replayOf: string | null }>;
        nextCursor: string | null;
      }>('/api/messages', { route: 'orders', limit: 1000, cursor }),
      200,
    ).json;
    for (const item of page.items) if (item.replayOf !== null) originals.push(item.replayOf);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return originals;
}

async function delivered(t: Parameters<typeof startAdmin>[0]) {
  const started = await startAdmin(t, { routes: [{ name: 'orders', path: '/orders' }] });
  const ids: string[] = [];
  for (let n = 0; n < SENT; n++) ids.push(await webhook(started.hookq, '/orders', `{"n":${n}}`));
  await waitUntil('all delivered', () => started.target.received.length === SENT);
  return { ...started, ids };
}

test('the replay API stopped by the storage answers how many it copied and where to go on', async (t) => {
  const { hookq, api, ids } = await delivered(t);
  const back = storageGoesAway(hookq.store, FAILS_FROM);
  const stopped = expectStatus(
    await api.post<{ error: string; replayed: number; nextCursor: string | null }>('/api/replay', {
      route: 'orders',
    }),
    503,
  ).json;
  assert.match(stopped.error, /the disk is full/);
  assert.equal(stopped.replayed, FAILS_FROM - 1);
  assert.equal(typeof stopped.nextCursor, 'string');
  assert.deepEqual(await copiesOf(api), ids.slice(0, FAILS_FROM - 1));

  back();
  const rest = expectStatus(
    await api.post<{ replayed: number; nextCursor: string | null }>('/api/replay', {
      route: 'orders',
      cursor: stopped.nextCursor,
    }),
    200,
  ).json;
  assert.deepEqual(rest, { replayed: SENT - FAILS_FROM + 1, nextCursor: null });
  assert.deepEqual(await copiesOf(api), ids, 'each message copied once, in order');
});

test('replay --route stopped by the storage prints the command that goes on from there', async (t) => {
  const { hookq, api, ids } = await delivered(t);
  const env = { HOOKQ_ADMIN_TOKEN: TOKEN };
  const admin = ['--admin', hookq.adminUrl];
  const back = storageGoesAway(hookq.store, FAILS_FROM);
  const first = await runHookq(['replay', '--route', 'orders', '--yes', ...admin], env);
  assert.notEqual(first.code, 0, 'a replay that stopped does not exit 0');
  assert.match(first.stderr, /the disk is full; the replay stopped after 39 copies/);
  const command = /Go on from there, without replaying those again: (hookq replay .*)$/m.exec(
    first.stderr,
  );
  assert.ok(command, first.stderr);
  assert.deepEqual(await copiesOf(api), ids.slice(0, FAILS_FROM - 1));

  back();
  const [, ...args] = command[1]!.split(' ');
  assert.deepEqual(args.slice(0, 3), ['replay', '--route', 'orders']);
  const rest = await runHookq([...args, '--yes', '--json', ...admin], env);
  assert.equal(rest.code, 0, rest.stderr);
  assert.deepEqual(JSON.parse(rest.stdout), { replayed: SENT - FAILS_FROM + 1 });
  assert.deepEqual(await copiesOf(api), ids, 'each message copied once, in order');
});
