/**
 * Every message, not only dead letters, through the CLI against a real `hookq serve`:
 * `messages list` and `dlq list` with their filters (state, group, time range, error
 * text), `messages show`, a bulk `replay --route` that keeps each group's original order,
 * and `tail`, which follows acceptances and outcomes live.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accepted, hookqHeaders, post } from '../e2e/support.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { spawnHookq } from '../helpers/hookq-process.js';
import { TestTarget } from '../helpers/target.js';
import { type Operator, parseTable, serveRoutes } from './support.js';

const TOKEN = 'cli-messages-token';

interface Summary {
  id: string;
  group: string;
  sequence: string;
  state: string;
  lastError: string | null;
  replayOf: string | null;
}

const route = (target: string) => ({
  name: 'orders',
  path: '/orders',
  target,
  ordering: 'strict',
  group: { header: 'X-Group' },
  retry: { maxAttempts: 2, backoff: { initial: '50ms', max: '100ms' } },
});

/** Send `count` messages to a group, one after the other, numbered from 1 in their bodies. */
async function sendTo(ingressUrl: string, group: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 1; n <= count; n++) {
    const body = Buffer.from(JSON.stringify({ group, n }));
    ids.push(
      accepted(await post(`${ingressUrl}/orders`, body, { 'x-group': group }), group, n, body).id,
    );
  }
  return ids;
}

async function messages(operator: Operator, query: string): Promise<Summary[]> {
  return (await operator.api<{ items: Summary[] }>(`/api/messages?limit=1000&${query}`)).items;
}

test('messages list and dlq list filter by state, group, time and error text; messages show', async (t) => {
  // Group "bad" is refused with a text of its own; the others are taken.
  const target = await TestTarget.start((received) =>
    hookqHeaders(received).group === 'bad' ? { status: 422, body: 'unknown customer 77' } : 200,
  );
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-messages-', TOKEN, [
    route(target.url),
  ]);
  const good = await sendTo(ingressUrl, 'good', 3);
  const [bad] = await sendTo(ingressUrl, 'bad', 1);
  await waitUntil('three delivered and one dead', async () => {
    const all = await messages(operator, 'route=orders');
    return (
      all.filter((m) => m.state === 'delivered').length === 3 && all.some((m) => m.state === 'dead')
    );
  });

  const delivered = parseTable(
    (await operator.ok(['messages', 'list', '--state', 'delivered', '--route', 'orders'])).stdout,
    'ID',
  );
  assert.deepEqual(
    delivered.map((row) => [row.ID, row.STATE, row.GROUP]),
    good.map((id) => [id, 'delivered', 'good']),
    'delivered messages in sequence order',
  );

  // The error text (here the last error, "HTTP 422") is matched in any case, and only the
  // message that holds it is listed.
  const byError = await operator.json<{ items: Summary[] }>([
    'messages',
    'list',
    '--error',
    'http 422',
  ]);
  assert.deepEqual(
    byError.items.map((m) => m.id),
    [bad],
  );
  const dead = await operator.json<{ items: Summary[] }>([
    'dlq',
    'list',
    '--error',
    'OF 2 ATTEMPTS',
    '--since',
    '1h',
  ]);
  assert.deepEqual(
    dead.items.map((m) => m.id),
    [bad],
  );
  assert.equal(
    (await operator.ok(['dlq', 'list', '--error', 'no such text'])).stdout,
    'no dead letters\n',
  );
  // A percent sign is text, not a wildcard.
  assert.equal((await operator.ok(['messages', 'list', '--error', '%'])).stdout, 'no messages\n');

  // Time ranges: everything was received in the last hour, nothing before 2001.
  const recent = await operator.json<{ items: Summary[] }>(['messages', 'list', '--since', '1h']);
  assert.equal(recent.items.length, 4);
  const before = await operator.json<{ items: Summary[] }>([
    'messages',
    'list',
    '--until',
    '2001-01-01T00:00:00Z',
  ]);
  assert.deepEqual(before.items, []);
  const future = await operator.json<{ items: Summary[] }>([
    'messages',
    'list',
    '--since',
    new Date(Date.now() + 3_600_000).toISOString(),
  ]);
  assert.deepEqual(future.items, []);
  const nonsense = await operator.fails(2, ['messages', 'list', '--since', 'yesterday']);
  assert.match(nonsense.stderr, /--since: "yesterday" is neither an RFC 3339 time/);
  const noZone = await operator.fails(2, ['messages', 'list', '--since', '2026-12-01T10:00:00']);
  assert.match(noZone.stderr, /since: must be an RFC 3339 time with a zone/);
  const badState = await operator.fails(2, ['messages', 'list', '--state', 'lost']);
  assert.match(badState.stderr, /state: must be one of queued, inflight, delivered, dead/);

  // Paging keeps the filters in its hint, so the hint can be pasted as it is.
  const first = await operator.ok([
    'messages',
    'list',
    '--state',
    'delivered',
    '--group',
    'good',
    '--limit',
    '2',
  ]);
  const hint =
    /^more: hookq messages list --group good --state delivered --limit 2 --cursor (\S+) {2}\(or --all\)$/m.exec(
      first.stdout,
    );
  assert.ok(hint, first.stdout);
  const rest = await operator.json<{ items: Summary[] }>([
    'messages',
    'list',
    '--group',
    'good',
    '--state',
    'delivered',
    '--limit',
    '2',
    '--cursor',
    hint[1]!,
  ]);
  assert.deepEqual(
    rest.items.map((m) => m.id),
    [good[2]],
  );

  const shown = await operator.ok(['messages', 'show', bad!]);
  assert.match(shown.stdout, new RegExp(`^id {10}${bad}$`, 'm'));
  assert.match(shown.stdout, /^state {7}dead/m);
  assert.match(shown.stdout, /unknown customer 77/);
  await operator.fails(3, ['messages', 'show', 'no-such-message']);
});

test('replay --route replays the delivered messages of a group in their original order, after a count, with progress', async (t) => {
  const target = await TestTarget.start(() => 200);
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-replay-', TOKEN, [
    route(target.url),
  ]);
  const a = await sendTo(ingressUrl, 'A', 5);
  await sendTo(ingressUrl, 'B', 3);
  await waitUntil('all eight delivered', () => target.received.length === 8);

  // No terminal to ask on: a script must say --yes.
  const asked = await operator.fails(2, ['replay', '--route', 'orders', '--group', 'A']);
  assert.match(asked.stderr, /pass --yes to replay/);
  await operator.fails(2, ['replay']);
  await operator.fails(2, ['replay', a[0]!, '--route', 'orders']);
  await operator.fails(3, ['replay', '--route', 'nosuch', '--yes']);

  const replay = await operator.ok(['replay', '--route', 'orders', '--group', 'A', '--yes']);
  assert.equal(replay.stdout, 'replayed 5 delivered message(s)\n');
  assert.match(replay.stderr, /^replayed 5\/5$/m);
  await waitUntil('the five copies delivered', () => target.received.length === 13);
  const copies = target.received
    .slice(8)
    .map((r) => JSON.parse(r.body.toString()) as { group: string; n: number });
  assert.deepEqual(
    copies,
    [1, 2, 3, 4, 5].map((n) => ({ group: 'A', n })),
    'the copies of group A, in the order of their originals, and nothing of B',
  );
  const made = (await messages(operator, 'route=orders&group=A')).filter(
    (m) => m.replayOf !== null,
  );
  assert.deepEqual(
    made.map((m) => m.replayOf),
    a,
  );

  // Nothing received in that range: nothing to replay, and no question asked.
  const none = await operator.json<{ replayed: number }>([
    'replay',
    '--route',
    'orders',
    '--since',
    new Date(Date.now() + 3_600_000).toISOString(),
  ]);
  assert.deepEqual(none, { replayed: 0 });
});

test('the replay API goes page by page and never replays its own copies', async (t) => {
  const target = await TestTarget.start(() => 200);
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-api-replay-', TOKEN, [
    route(target.url),
  ]);
  await sendTo(ingressUrl, 'A', 5);
  await waitUntil('all five delivered', () => target.received.length === 5);

  const call = async (body: object) => {
    const response = await fetch(`${operator.adminUrl}/api/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(response.status, 200);
    return (await response.json()) as { replayed: number; nextCursor: string | null };
  };
  const pages: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await call({ route: 'orders', limit: 2, ...(cursor ? { cursor } : {}) });
    pages.push(page.replayed);
    cursor = page.nextCursor ?? undefined;
    // The copies made so far are delivered before the next page is asked for: were the
    // walk not bounded, it would find them and replay them again.
    await waitUntil(
      'copies delivered',
      () => target.received.length === 5 + pages.reduce((x, y) => x + y),
    );
  } while (cursor);
  assert.deepEqual(pages, [2, 2, 1]);
  assert.equal((await messages(operator, 'route=orders')).length, 10);
});

test('tail follows acceptances and attempt outcomes as they happen', async (t) => {
  // The first attempt of each message fails, the second is taken.
  const tries = new Map<string, number>();
  const target = await TestTarget.start((received) => {
    const id = hookqHeaders(received).id;
    tries.set(id, (tries.get(id) ?? 0) + 1);
    return tries.get(id) === 1 ? { status: 503, body: 'warming up' } : 200;
  });
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-tail-', TOKEN, [
    { ...route(target.url), retry: { maxAttempts: 5, backoff: { initial: '50ms', max: '100ms' } } },
  ]);

  /** `hookq tail …` running until the test ends, once it says it follows. */
  const follow = async (args: string[], following: string) => {
    const child = spawnHookq(['tail', ...args], {
      HOOKQ_ADMIN_URL: operator.adminUrl,
      HOOKQ_ADMIN_TOKEN: TOKEN,
    });
    onEnd(t, () => child.kill('SIGKILL'));
    const output = { stdout: '', stderr: '' };
    child.stdout!.on('data', (chunk: Buffer) => {
      output.stdout += chunk;
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output.stderr += chunk;
    });
    await waitUntil(`tail ${args.join(' ')} following`, () => output.stderr.includes(following));
    return output;
  };

  const json = await follow(['--route', 'orders', '--json'], 'following route orders');
  const [id] = await sendTo(ingressUrl, 'g', 1);
  const events = () =>
    json.stdout
      .split('\n')
      .filter(Boolean)
      .map(
        (line) =>
          JSON.parse(line) as { type: string; messageId?: string; next?: string; status?: number },
      );
  await waitUntil('accepted, a retry and the delivery', () => events().length >= 3);
  assert.deepEqual(
    events().map((e) => [e.type, e.messageId, e.next ?? null, e.status ?? null]),
    [
      ['accepted', id, null, null],
      ['attempt', id, 'retry', 503],
      ['attempt', id, 'delivered', 200],
    ],
  );

  // The table for people says the same in a line each.
  const people = await follow([], 'following every route');
  const [second] = await sendTo(ingressUrl, 'h', 1);
  const lines = () => people.stdout.split('\n').filter(Boolean);
  await waitUntil('three lines', () => lines().length >= 3);
  const [acceptedLine, retryLine, deliveredLine] = lines();
  assert.match(
    acceptedLine!,
    new RegExp(`orders {2}accepted {3}${second} {2}group h {2}seq \\d+$`),
  );
  assert.match(retryLine!, new RegExp(`orders {2}retry {6}${second} .* 503 .*next try`));
  assert.match(deliveredLine!, new RegExp(`orders {2}delivered {2}${second} .*attempt 2 {2}200`));

  await operator.fails(3, ['tail', '--route', 'nosuch']);
});
