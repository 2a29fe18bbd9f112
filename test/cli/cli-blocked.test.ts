/**
 * `hookq dlq blocked` against a real `hookq serve`: the groups a dead letter holds,
 * longest blocked first, each with how many messages wait behind it, in the table and
 * in --json; past the API's counting limit the table says "10000+".
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { post } from '../e2e/support.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { TestTarget } from '../helpers/target.js';
import { type Operator, parseTable, serveRoutes } from './support.js';

const TOKEN = 'cli-blocked-token';
/** The API counts a blocked group's waiting messages up to this (WAITING_COUNT_LIMIT). */
const LIMIT = 10_000;

interface BlockedJson {
  items: Array<{
    route: string;
    group: string;
    waiting: number;
    waitingCapped: boolean;
    heldBy: { id: string; finishedAt: string };
  }>;
}

async function deadLetters(operator: Operator): Promise<number> {
  const { routes } = await operator.api<{ routes: Array<{ deadLetter: number }> }>('/api/routes');
  return routes[0]!.deadLetter;
}

test('dlq blocked lists the longest blocked group first, with how many messages wait behind each', {
  timeout: 120_000,
}, async (t) => {
  const target = await TestTarget.start(() => ({ status: 500, body: 'rejected' }));
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-blocked-', TOKEN, [
    {
      name: 'orders',
      path: '/orders',
      target: target.url,
      ordering: 'strict',
      group: { header: 'X-Group' },
      retry: { maxAttempts: 1 },
      delivery: { timeout: '1s' },
    },
  ]);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  onEnd(t, () => agent.destroy());
  let sent = 0;
  const send = async (group: string) => {
    // Each body its own: the route drops repeats of a body (content dedup).
    sent += 1;
    const body = JSON.stringify({ group, n: sent });
    const reply = await post(`${ingressUrl}/orders`, body, { 'x-group': group }, agent);
    assert.equal(reply.status, 200);
    assert.equal(reply.json.duplicate, false);
  };

  // Each group's first message dies before the next group's is sent, so they are
  // blocked in this order, which is not the order of their names.
  const groups = ['c', 'a', 'deep', 'b'];
  for (const [i, group] of groups.entries()) {
    await send(group);
    await waitUntil(`${group} dead`, async () => (await deadLetters(operator)) === i + 1);
  }
  const behind: Record<string, number> = { c: 3, a: 0, deep: LIMIT + 1, b: 2 };
  for (const [group, n] of Object.entries(behind)) {
    for (let done = 0; done < n; done += 500) {
      await Promise.all(Array.from({ length: Math.min(500, n - done) }, () => send(group)));
    }
  }

  const [table, json] = await Promise.all([
    operator.ok(['dlq', 'blocked', '--route', 'orders']),
    operator.json<BlockedJson>(['dlq', 'blocked', '--route', 'orders']),
  ]);
  const rows = parseTable(table.stdout, 'GROUP');
  assert.deepEqual(
    rows.map((row) => [row.GROUP, row.WAITING]),
    [
      ['c', '3'],
      ['a', '0'],
      ['deep', `${LIMIT}+`],
      ['b', '2'],
    ],
  );
  assert.match(table.stdout, /^fix: hookq dlq redrive <id> {3}or {3}hookq dlq discard <id>$/m);

  assert.deepEqual(
    json.items.map((item) => [item.group, item.waiting, item.waitingCapped]),
    [
      ['c', 3, false],
      ['a', 0, false],
      ['deep', LIMIT, true],
      ['b', 2, false],
    ],
  );
  const died = json.items.map((item) => Date.parse(item.heldBy.finishedAt));
  assert.deepEqual(
    died,
    [...died].sort((x, y) => x - y),
    'oldest first',
  );
  // The table names the same holding messages, in the same order.
  assert.deepEqual(
    rows.map((row) => row['HELD BY']),
    json.items.map((item) => item.heldBy.id),
  );
});
