/**
 * An operator during an outage of the application (SPEC §5a), through the CLI: `status`
 * says which route is stuck behind a down target, since when, why and when hookq looks
 * again; `retry-now` sends what waits without waiting out its backoff or the next probe,
 * for a whole route, one group or one message; and says what it could not do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { accepted, hookqHeaders, post } from '../e2e/support.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { TestTarget } from '../helpers/target.js';
import { closedPort, type Operator, parseTable, serveRoutes } from './support.js';

const TOKEN = 'cli-outage-token';

interface RouteView {
  name: string;
  state: string;
  queued: number;
  health: {
    state: 'up' | 'down';
    since: string | null;
    lastError: string | null;
    nextProbeAt: string | null;
  };
}

/** Nothing comes again by itself within a test: only `retry-now` can make it go sooner. */
const waitLong = {
  group: { header: 'X-Group' },
  retry: { maxAttempts: 5, backoff: { initial: '1m', max: '1m' } },
  delivery: { timeout: '2s', breaker: { after: 1, probe: { initial: '1m', max: '1m' } } },
};

async function route(operator: Operator, name: string): Promise<RouteView> {
  const { routes } = await operator.api<{ routes: RouteView[] }>('/api/routes');
  return routes.find((r) => r.name === name)!;
}

test('status shows a target that is down and why; retry-now probes it at once when it is back', async (t) => {
  // The application is away: its port refuses connections until it comes back.
  const app = await TestTarget.start();
  await app.down();
  onEnd(t, () => app.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-outage-', TOKEN, [
    { name: 'payments', path: '/payments', target: app.url, ...waitLong },
    { name: 'signups', path: '/signups', target: app.url, ...waitLong },
  ]);

  const body = Buffer.from(JSON.stringify({ payment: 1 }));
  const payment = accepted(
    await post(`${ingressUrl}/payments`, body, { 'x-group': 'p1' }),
    'p1',
    1,
    body,
  );
  await waitUntil(
    'payments down',
    async () => (await route(operator, 'payments')).health.state === 'down',
  );

  const status = await operator.ok(['status']);
  const rows = parseTable(status.stdout, 'ROUTE');
  const payments = rows.find((row) => row.ROUTE === 'payments')!;
  assert.match(payments.STATE!, /^stuck: target down \d+s$/, status.stdout);
  assert.equal(payments.QUEUED, '1');
  assert.equal(rows.find((row) => row.ROUTE === 'signups')!.STATE, 'idle');
  // Under the table: for how long, the error, and when the next probe goes.
  const port = new URL(app.url).port;
  assert.match(
    status.stdout,
    new RegExp(
      `\\npayments: target down for \\d+s: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; next probe in \\d+s\\n$`,
    ),
  );
  assert.doesNotMatch(status.stdout, /^signups:/m, 'signups is up: no outage line');

  // --json passes the API's view through.
  const json = await operator.json<{ routes: RouteView[] }>(['status']);
  const paymentsJson = json.routes.find((r) => r.name === 'payments')!;
  assert.equal(paymentsJson.state, 'stuck');
  assert.equal(paymentsJson.health.state, 'down');
  assert.match(paymentsJson.health.lastError ?? '', /ECONNREFUSED/);
  const nextProbe = Date.parse(paymentsJson.health.nextProbeAt ?? '');
  assert.ok(nextProbe - Date.now() > 30_000, 'the next probe is a minute away');

  // The application is back; hookq would only notice at the next probe, in a minute.
  await app.up();
  const retried = await operator.ok(['retry-now', 'payments']);
  assert.match(
    retried.stdout,
    /^payments: \d+ waiting messages? made due now; the target is down: the next probe goes now\n$/,
  );
  await app.waitFor((received) => received.length === 1, 10_000);
  assert.equal(hookqHeaders(app.received[0]!).id, payment.id);
  await waitUntil('payments up and idle', async () => {
    const now = await route(operator, 'payments');
    return now.health.state === 'up' && now.state === 'idle';
  });
  const healed = await operator.ok(['status']);
  assert.equal(
    parseTable(healed.stdout, 'ROUTE').find((row) => row.ROUTE === 'payments')!.STATE,
    'idle',
  );
  assert.doesNotMatch(healed.stdout, /target down/);
});

test('retry-now of one group or one message, and what it refuses', async (t) => {
  // Each message is rejected once: then it waits a minute for its next attempt.
  const seen = new Set<string>();
  const app = await TestTarget.start((received) => {
    const id = hookqHeaders(received).id;
    if (seen.has(id)) return 200;
    seen.add(id);
    return { status: 500, body: 'not yet' };
  });
  onEnd(t, () => app.close());
  const { ingressUrl, operator } = await serveRoutes(t, 'hookq-cli-retry-now-', TOKEN, [
    { name: 'orders', path: '/orders', target: app.url, ...waitLong },
    { name: 'refunds', path: '/refunds', target: app.url, ...waitLong },
  ]);
  const send = async (path: string, group: string) => {
    const body = Buffer.from(JSON.stringify({ group }));
    return accepted(await post(`${ingressUrl}${path}`, body, { 'x-group': group }), group, 1, body);
  };
  const g1 = await send('/orders', 'g1');
  const g2 = await send('/orders', 'g2');
  const refund = await send('/refunds', 'r1');
  await app.waitFor((received) => received.length === 3);
  const deliveriesOf = (id: string) => app.received.filter((r) => hookqHeaders(r).id === id).length;

  // One message, by id: only it goes.
  assert.deepEqual(await operator.json(['retry-now', 'orders', '--id', g1.id]), {
    route: 'orders',
    due: 1,
  });
  await app.waitFor(() => deliveriesOf(g1.id) === 2);
  await waitUntil('g1 delivered', async () => (await route(operator, 'orders')).queued === 1);
  assert.equal(deliveriesOf(g2.id), 1, 'g2 still waits out its backoff');

  // Delivered now: there is nothing to retry, and the exit code says it is the wrong state.
  const again = await operator.fails(4, ['retry-now', 'orders', '--id', g1.id]);
  assert.match(again.stderr, new RegExp(`message ${g1.id} is delivered`));

  // One group.
  const group = await operator.ok(['retry-now', 'orders', '--group', 'g2']);
  assert.equal(group.stdout, 'orders: 1 waiting message made due now\n');
  await app.waitFor(() => deliveriesOf(g2.id) === 2);
  await waitUntil('orders idle', async () => (await route(operator, 'orders')).state === 'idle');

  // Nothing waits any more on orders.
  const none = await operator.ok(['retry-now', 'orders']);
  assert.equal(none.stdout, 'orders: 0 waiting messages made due now\n');

  // What does not exist, or is not where it was said to be, is not found (3).
  const unknownId = await operator.fails(3, ['retry-now', 'orders', '--id', 'no-such-id']);
  assert.match(unknownId.stderr, /no message no-such-id/);
  const elsewhere = await operator.fails(3, ['retry-now', 'orders', '--id', refund.id]);
  assert.match(
    elsewhere.stderr,
    new RegExp(`message ${refund.id} is on route refunds, not orders`),
  );
  assert.equal(deliveriesOf(refund.id), 1, 'a refused retry-now moved nothing');
  const unknownRoute = await operator.fails(3, ['retry-now', 'nosuch']);
  assert.match(unknownRoute.stderr, /nosuch/);

  // Bad usage (2), and no admin API to ask (5).
  const both = await operator.fails(2, ['retry-now', 'orders', '--group', 'g1', '--id', g1.id]);
  assert.match(both.stderr, /--group or --id, not both/);
  await operator.fails(2, ['retry-now']);
  const away = await operator.fails(5, ['retry-now', 'orders'], {
    HOOKQ_ADMIN_URL: `http://127.0.0.1:${await closedPort()}`,
  });
  assert.match(away.stderr, /cannot reach the admin API/);
});
