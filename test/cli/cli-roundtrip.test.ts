/**
 * The operator's round trip through the CLI against a real `hookq serve` and a real
 * target: see the dead letters and the groups they hold, look into one, redrive them
 * (by route, by id, all), discard one, replay a delivered message, pause and resume a
 * route; and the target gets every message, each group in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Accepted,
  accepted,
  assertFirstDeliveriesInOrder,
  deliveriesIn,
  hookqHeaders,
  post,
} from '../e2e/support.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { type Received, TestTarget } from '../helpers/target.js';
import { type Operator, parseTable, serveRoutes } from './support.js';

const TOKEN = 'cli-roundtrip-token';

interface RouteView {
  name: string;
  paused: boolean;
  queued: number;
  inflight: number;
  deadLetter: number;
  delivered: number;
  blockedGroups: number;
}

interface Summary {
  id: string;
  route: string;
  group: string;
  sequence: string;
  state: string;
  attempts: number;
}

interface MessageView extends Summary {
  headers: Array<[string, string]>;
  body: string;
  bodyEncoding: string;
  deadReason: string | null;
  history: Array<{ number: number; outcome: string; status: number | null }>;
}

/** Fails fast, retries fast: a message is dead within a fraction of a second. */
const failFast = {
  ordering: 'strict',
  group: { header: 'X-Group' },
  retry: { maxAttempts: 2, backoff: { initial: '50ms', max: '100ms' } },
  delivery: { timeout: '1s' },
};

async function routes(operator: Operator): Promise<Map<string, RouteView>> {
  const { routes } = await operator.api<{ routes: RouteView[] }>('/api/routes');
  return new Map(routes.map((route) => [route.name, route]));
}

async function stateOf(operator: Operator, id: string): Promise<string> {
  return (await operator.api<Summary>(`/api/messages/${id}`)).state;
}

test('status, dlq list/show/blocked, then redrive by route and all: every message delivered in group order', async (t) => {
  let healthy = false;
  // Which requests the target accepted: the order checks look at those only.
  const answeredOk = new Set<Received>();
  const target = await TestTarget.start((received) => {
    if (!healthy) return { status: 500, body: 'not today' };
    answeredOk.add(received);
    return 200;
  });
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-roundtrip-', TOKEN, [
    { name: 'billing', path: '/billing', target: target.url, ...failFast },
    { name: 'orders', path: '/orders', target: target.url, ...failFast },
  ]);

  async function send(route: string, group: string, n: number): Promise<Accepted> {
    const body = Buffer.from(JSON.stringify({ group, n, note: { tags: ['a', 'b'] } }));
    return accepted(
      await post(`${ingressUrl}/${route}`, body, { 'x-group': group }),
      group,
      n,
      body,
    );
  }

  // One after the other, interleaving groups, so each group's order is known.
  const groups = ['g1', 'g2', 'g3'];
  const sent = new Map<string, Accepted[]>(groups.map((g) => [g, []]));
  for (let n = 1; n <= 3; n++) {
    for (const group of groups) sent.get(group)!.push(await send('orders', group, n));
  }
  const bill = await send('billing', 'x', 1);
  // In strict ordering the first message of each group dies and holds the others.
  const heads = groups.map((group) => sent.get(group)![0]!);
  await waitUntil(
    'the first message of every group dead',
    async () => {
      const byName = await routes(operator);
      return byName.get('orders')?.deadLetter === 3 && byName.get('billing')?.deadLetter === 1;
    },
    15_000,
  );
  // Two attempts for each head, none for anything behind them.
  assert.equal(target.received.length, 8);
  assert.deepEqual(
    new Set(target.received.map((r) => hookqHeaders(r).id)),
    new Set([...heads, bill].map((m) => m.id)),
  );

  // --- status -------------------------------------------------------------------------
  const [statusTable, statusJson] = await Promise.all([
    operator.ok(['status']),
    operator.json<{ routes: RouteView[] }>(['status']),
  ]);
  const statusRows = parseTable(statusTable.stdout, 'ROUTE');
  assert.deepEqual(
    statusRows.map((row) => row.ROUTE),
    ['billing', 'orders'],
  );
  const ordersRow = statusRows.find((row) => row.ROUTE === 'orders')!;
  // Every group with waiting messages is held by a dead letter: nothing moves by itself.
  assert.equal(ordersRow.STATE, 'stuck: groups blocked');
  assert.equal(ordersRow.QUEUED, '6');
  assert.equal(ordersRow['IN FLIGHT'], '0');
  assert.equal(ordersRow.DEAD, '3');
  assert.equal(ordersRow.BLOCKED, '3');
  assert.match(ordersRow.OLDEST!, /^(\d+m)?\d+s$/);
  assert.equal(ordersRow['PATH -> TARGET'], `/orders -> ${target.url}`);
  const billingRow = statusRows.find((row) => row.ROUTE === 'billing')!;
  assert.deepEqual(
    [billingRow.QUEUED, billingRow.DEAD, billingRow.BLOCKED, billingRow.OLDEST],
    ['0', '1', '1', '-'],
  );
  const ordersJson = statusJson.routes.find((route) => route.name === 'orders')!;
  assert.deepEqual(
    [
      ordersJson.paused,
      ordersJson.queued,
      ordersJson.inflight,
      ordersJson.deadLetter,
      ordersJson.blockedGroups,
    ],
    [false, 6, 0, 3, 3],
  );

  // --- dlq list -------------------------------------------------------------------------
  // Pages come in (route, sequence) order: billing before orders.
  const allDead = [bill, ...heads].map((m) => m.id);
  const [listTable, listJson, ofRoute, ofGroup, billingTable] = await Promise.all([
    operator.ok(['dlq', 'list']),
    operator.json<{ items: Summary[]; nextCursor: string | null }>(['dlq', 'list']),
    operator.json<{ items: Summary[] }>(['dlq', 'list', '--route', 'orders']),
    operator.json<{ items: Summary[] }>(['dlq', 'list', '--route', 'orders', '--group', 'g2']),
    operator.ok(['dlq', 'list', '-r', 'billing']),
  ]);
  const listRows = parseTable(listTable.stdout, 'ID');
  assert.deepEqual(
    listRows.map((row) => row.ID),
    allDead,
  );
  assert.deepEqual(listRows[1], {
    ID: heads[0]!.id,
    ROUTE: 'orders',
    GROUP: 'g1',
    SEQ: String(heads[0]!.sequence),
    ATTEMPTS: '2',
    'DEAD FOR': listRows[1]!['DEAD FOR'],
    REASON: 'failed 2 of 2 attempts',
    'LAST ERROR': 'HTTP 500',
  });
  assert.match(listRows[1]!['DEAD FOR']!, /^(\d+m)?\d+s$/);
  assert.doesNotMatch(listTable.stdout, /^more: /m);
  assert.deepEqual(
    listJson.items.map((m) => m.id),
    allDead,
  );
  assert.ok(listJson.items.every((m) => m.state === 'dead' && m.attempts === 2));
  assert.equal(listJson.nextCursor, null);
  assert.deepEqual(
    ofRoute.items.map((m) => m.id),
    heads.map((m) => m.id),
  );
  assert.deepEqual(
    ofGroup.items.map((m) => m.id),
    [sent.get('g2')![0]!.id],
  );
  assert.deepEqual(
    parseTable(billingTable.stdout, 'ID').map((row) => row.ID),
    [bill.id],
  );

  // Paging: the printed hint is a command that gives the next page of the same listing.
  const firstPage = await operator.ok(['dlq', 'list', '--route', 'orders', '--limit', '2']);
  assert.deepEqual(
    parseTable(firstPage.stdout, 'ID').map((row) => row.ID),
    heads.slice(0, 2).map((m) => m.id),
  );
  const hint = /^more: hookq (.+?) {2}\(or --all\)$/m.exec(firstPage.stdout);
  assert.ok(hint, `no paging hint in:\n${firstPage.stdout}`);
  const secondPage = await operator.ok(hint[1]!.split(' '));
  assert.deepEqual(
    parseTable(secondPage.stdout, 'ID').map((row) => row.ID),
    [heads[2]!.id],
  );
  assert.doesNotMatch(secondPage.stdout, /^more: /m);

  const [jsonPage1, allTable, allJson] = await Promise.all([
    operator.json<{ items: Summary[]; nextCursor: string | null }>(['dlq', 'list', '-n', '3']),
    operator.ok(['dlq', 'list', '--all', '--limit', '1']),
    operator.json<{ items: Summary[]; nextCursor: string | null }>([
      'dlq',
      'list',
      '--all',
      '--limit',
      '1',
    ]),
  ]);
  assert.deepEqual(
    jsonPage1.items.map((m) => m.id),
    allDead.slice(0, 3),
  );
  assert.ok(jsonPage1.nextCursor);
  const jsonPage2 = await operator.json<{ items: Summary[]; nextCursor: string | null }>([
    'dlq',
    'list',
    '-n',
    '3',
    '--cursor',
    jsonPage1.nextCursor,
  ]);
  assert.deepEqual(
    jsonPage2.items.map((m) => m.id),
    allDead.slice(3),
  );
  assert.equal(jsonPage2.nextCursor, null);
  assert.deepEqual(
    parseTable(allTable.stdout, 'ID').map((row) => row.ID),
    allDead,
  );
  assert.doesNotMatch(allTable.stdout, /^more: /m);
  assert.deepEqual(
    allJson.items.map((m) => m.id),
    allDead,
  );
  assert.equal(allJson.nextCursor, null);

  // --- dlq show and dlq blocked ---------------------------------------------------------
  const g1Head = heads[0]!;
  const [show, showJson, blocked, blockedJson] = await Promise.all([
    operator.ok(['dlq', 'show', g1Head.id]),
    operator.json<MessageView>(['dlq', 'show', g1Head.id]),
    operator.ok(['dlq', 'blocked', '--route', 'orders']),
    operator.json<{ items: Array<{ group: string; heldBy: Summary }> }>([
      'dlq',
      'blocked',
      '--route',
      'orders',
    ]),
  ]);
  const text = show.stdout;
  assert.match(text, new RegExp(`^id +${g1Head.id}$`, 'm'));
  assert.match(text, new RegExp(`^route +orders +group g1 +sequence ${g1Head.sequence}$`, 'm'));
  assert.match(text, /^state +dead \(failed 2 of 2 attempts\)$/m);
  assert.match(text, /^attempts +2$/m);
  assert.match(text, /^last error +HTTP 500$/m);
  assert.match(text, /^ {2}x-group: g1$/m);
  assert.match(text, /^ {2}content-type: application\/json$/m);
  // The body pretty-printed, indented under its heading.
  const pretty = JSON.stringify(JSON.parse(g1Head.body.toString('utf8')), null, 2)
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
  assert.ok(
    text.includes(`body (${g1Head.body.length} bytes)\n${pretty}\n`),
    `no pretty body in:\n${text}`,
  );
  const attempts = parseTable(text, '#');
  assert.deepEqual(
    attempts.map((a) => [a['#'], a.OUTCOME, a.STATUS]),
    [
      ['1', 'http_error', '500'],
      ['2', 'http_error', '500'],
    ],
  );
  // What the target answered is what an operator needs to see, not the status again.
  assert.deepEqual(
    attempts.map((a) => a['ERROR / RESPONSE']),
    ['not today', 'not today'],
  );

  assert.equal(showJson.id, g1Head.id);
  assert.equal(showJson.state, 'dead');
  assert.equal(showJson.sequence, String(g1Head.sequence));
  assert.equal(showJson.deadReason, 'failed 2 of 2 attempts');
  assert.equal(showJson.bodyEncoding, 'utf8');
  assert.equal(showJson.body, g1Head.body.toString('utf8'));
  assert.ok(showJson.headers.some(([name, value]) => name === 'x-group' && value === 'g1'));
  assert.deepEqual(
    showJson.history.map((a) => [a.number, a.outcome, a.status]),
    [
      [1, 'http_error', 500],
      [2, 'http_error', 500],
    ],
  );

  const blockedRows = parseTable(blocked.stdout, 'GROUP');
  assert.deepEqual(
    blockedRows.map((row) => [row.GROUP, row['HELD BY'], row.SEQ]).sort(),
    heads.map((m) => [m.group, m.id, String(m.sequence)]),
  );
  assert.match(blocked.stdout, /^fix: hookq dlq redrive <id>/m);
  assert.deepEqual(
    blockedJson.items.map((item) => [item.group, item.heldBy.id]).sort(),
    heads.map((m) => [m.group, m.id]),
  );

  // --- redrive by route -----------------------------------------------------------------
  healthy = true;
  const redrive = await operator.ok(['dlq', 'redrive', '--route', 'orders']);
  assert.match(redrive.stdout, /^redriven 3 dead letter\(s\)$/m);
  // Not a terminal: a progress line instead of a bar.
  assert.match(redrive.stderr, /^redriven 3\/3$/m);
  // A webhook right after the redrive still goes after the redriven message of its group.
  sent.get('g1')!.push(await send('orders', 'g1', 4));

  const ordersSent = [...sent.values()].flat();
  const ordersDelivered = () =>
    deliveriesIn(target.received.filter((r) => answeredOk.has(r))).filter(
      (d) => d.route === 'orders',
    );
  await waitUntil(
    'every orders message delivered',
    () => new Set(ordersDelivered().map((d) => d.id)).size === ordersSent.length,
    15_000,
  );
  // Many backoff periods: room for a wrongly repeated delivery to show.
  await delay(300);
  const delivered = ordersDelivered();
  assertFirstDeliveriesInOrder(delivered);
  for (const group of groups) {
    assert.deepEqual(
      delivered.filter((d) => d.group === group).map((d) => d.id),
      sent.get(group)!.map((m) => m.id),
      `group ${group}: delivered once each, in the order sent`,
    );
    // The sender's own count, read from the bodies the target got.
    assert.deepEqual(
      delivered
        .filter((d) => d.group === group)
        .map((d) => (JSON.parse(d.body.toString('utf8')) as { n: number }).n),
      sent.get(group)!.map((m) => m.n),
    );
  }
  // The redrive was for orders only: billing's dead letter stayed.
  let byName = await routes(operator);
  assert.deepEqual([byName.get('orders')?.deadLetter, byName.get('orders')?.blockedGroups], [0, 0]);
  assert.equal(byName.get('billing')?.deadLetter, 1);
  assert.ok(!target.received.some((r) => answeredOk.has(r) && hookqHeaders(r).route === 'billing'));

  // --- redrive all ----------------------------------------------------------------------
  const redriveAll = await operator.ok(['dlq', 'redrive', '--all']);
  assert.match(redriveAll.stdout, /^redriven 1 dead letter\(s\)$/m);
  assert.match(redriveAll.stderr, /^redriven 1\/1$/m);
  await waitUntil(
    'billing delivered',
    async () => (await stateOf(operator, bill.id)) === 'delivered',
    10_000,
  );
  byName = await routes(operator);
  assert.deepEqual(
    [...byName.values()].map((r) => [r.name, r.deadLetter, r.queued, r.blockedGroups]),
    [
      ['billing', 0, 0, 0],
      ['orders', 0, 0, 0],
    ],
  );
  const { stdout: emptyList } = await operator.ok(['dlq', 'list']);
  assert.equal(emptyList, 'no dead letters\n');
});

test('discard, redrive by id, replay, pause and resume', async (t) => {
  let fixed = false;
  const answeredOk = new Set<Received>();
  const target = await TestTarget.start((received) => {
    if (!fixed && received.body.includes('poison')) return { status: 500, body: 'poisoned' };
    answeredOk.add(received);
    return 200;
  });
  onEnd(t, () => target.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-ops-', TOKEN, [
    { name: 'orders', path: '/orders', target: target.url, ...failFast },
  ]);

  async function send(group: string, n: number, kind = 'fine'): Promise<Accepted> {
    const body = Buffer.from(JSON.stringify({ group, n, kind }));
    return accepted(await post(`${ingressUrl}/orders`, body, { 'x-group': group }), group, n, body);
  }
  const delivered = () => deliveriesIn(target.received.filter((r) => answeredOk.has(r)));
  const deliveredIds = () => delivered().map((d) => d.id);
  async function deadIds(): Promise<string[]> {
    const { items } = await operator.json<{ items: Summary[] }>(['dlq', 'list']);
    return items.map((m) => m.id);
  }

  const poisonA = await send('A', 1, 'poison');
  const fineA = await send('A', 2);
  const poisonB = await send('B', 1, 'poison');
  const fineB = await send('B', 2);
  const fineC = await send('C', 1);
  await waitUntil(
    'both poisoned messages dead, C delivered',
    async () =>
      (await stateOf(operator, poisonA.id)) === 'dead' &&
      (await stateOf(operator, poisonB.id)) === 'dead' &&
      deliveredIds().includes(fineC.id),
    15_000,
  );

  // --- discard --------------------------------------------------------------------------
  // No terminal to ask on and no --yes: refused, nothing changes.
  const refused = await operator.fails(2, ['dlq', 'discard', poisonA.id]);
  assert.match(refused.stderr, /--yes/);
  assert.equal(refused.stdout, '');
  assert.deepEqual(await deadIds(), [poisonA.id, poisonB.id]);

  const discard = await operator.ok(['dlq', 'discard', poisonA.id, '--yes']);
  assert.equal(discard.stdout, `discarded ${poisonA.id}\n`);
  assert.deepEqual(await deadIds(), [poisonB.id]);
  await operator.fails(3, ['dlq', 'show', poisonA.id]);
  // The group it held goes on.
  await waitUntil('A 2 delivered', () => deliveredIds().includes(fineA.id), 10_000);
  // Only dead letters can be discarded: a delivered message is in the wrong state.
  const notDead = await operator.fails(4, ['dlq', 'discard', fineC.id, '-y']);
  assert.match(notDead.stderr, /delivered/);
  assert.equal(await stateOf(operator, fineC.id), 'delivered');

  // --- redrive by id --------------------------------------------------------------------
  fixed = true;
  assert.deepEqual(await operator.json(['dlq', 'redrive', poisonB.id]), {
    moved: 1,
    redriven: [poisonB.id],
    notRedriven: [],
  });
  await waitUntil('B delivered', () => deliveredIds().includes(fineB.id), 10_000);
  assert.deepEqual(
    delivered()
      .filter((d) => d.group === 'B')
      .map((d) => [d.id, d.attempt]),
    [
      // Attempts start again after a redrive.
      [poisonB.id, 1],
      [fineB.id, 1],
    ],
  );
  assert.deepEqual(await deadIds(), []);

  // --- replay ---------------------------------------------------------------------------
  const replay = await operator.ok(['replay', fineC.id]);
  const replayed = /^replayed (\S+) as (\S+) \(sequence (\d+)\)$/.exec(replay.stdout.trim());
  assert.ok(replayed, replay.stdout);
  assert.equal(replayed[1], fineC.id);
  const copyId = replayed[2]!;
  assert.notEqual(copyId, fineC.id);
  const copyJson = await operator.json<{ messageId: string; sequence: string }>([
    'replay',
    fineC.id,
  ]);
  assert.ok(![fineC.id, copyId].includes(copyJson.messageId));
  await waitUntil(
    'both copies delivered',
    () => deliveredIds().includes(copyId) && deliveredIds().includes(copyJson.messageId),
    10_000,
  );
  const copies = delivered().filter((d) => d.body.equals(fineC.body));
  assert.deepEqual(
    copies.map((d) => [d.id, d.sequence]),
    [
      [fineC.id, fineC.sequence],
      [copyId, Number(replayed[3])],
      [copyJson.messageId, Number(copyJson.sequence)],
    ],
  );
  assert.ok(Number(replayed[3]) > fineB.sequence, 'a replay is a new message, at the end');

  // --- pause and resume -----------------------------------------------------------------
  const pause = await operator.ok(['pause', 'orders']);
  assert.equal(pause.stdout, 'orders: deliveries paused\n');
  const held = [await send('P', 1), await send('P', 2), await send('P', 3)];
  const status = await operator.ok(['status']);
  const row = parseTable(status.stdout, 'ROUTE').find((r) => r.ROUTE === 'orders')!;
  assert.equal(row.STATE, 'paused');
  assert.equal(row.QUEUED, '3');
  // Ample time for a delivery that should not happen.
  await delay(1000);
  assert.ok(!delivered().some((d) => d.group === 'P'), 'a paused route delivered a message');
  const paused = await operator.json<{ routes: RouteView[] }>(['status']);
  assert.deepEqual(
    paused.routes.map((r) => [r.name, r.paused, r.queued]),
    [['orders', true, 3]],
  );

  assert.deepEqual(await operator.json(['resume', 'orders']), { route: 'orders', paused: false });
  await waitUntil(
    'the held messages delivered',
    () => delivered().filter((d) => d.group === 'P').length === held.length,
    10_000,
  );
  assert.deepEqual(
    delivered()
      .filter((d) => d.group === 'P')
      .map((d) => d.id),
    held.map((m) => m.id),
  );
  assert.equal((await routes(operator)).get('orders')?.paused, false);
});
