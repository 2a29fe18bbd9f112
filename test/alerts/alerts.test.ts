/**
 * Alerts over real HTTP: hookq on a SQLite file, a recording receiver for the alerts,
 * and a target that goes away, rejects or holds messages. Each change is one POST, only
 * on a transition; a failing receiver is retried; a dead one costs deliveries nothing.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import packageJson from '../../package.json' with { type: 'json' };
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { type Behaviour, TestTarget } from '../helpers/target.js';
import { alertsOf, alertsOfType, logsSaying, RFC3339, send, startWithAlerts } from './support.js';

const CHECK_EVERY = '100ms';
/** Long enough for several checks: what did not come by then would not come at all. */
const SEVERAL_CHECKS_MS = 400;

/** A recording HTTP server (the alert receiver, or the route's target), closed at the end. */
async function receiver(t: TestContext, behaviour?: Behaviour): Promise<TestTarget> {
  const started = await TestTarget.start(behaviour);
  onEnd(t, () => started.close());
  return started;
}

test('a target that goes down gives one target.down, and one target.up when it is back', async (t) => {
  const alerts = await receiver(t);
  const target = await receiver(t);
  await target.down();
  const { hookq } = await startWithAlerts(t, {
    notify: {
      url: alerts.url,
      checkEvery: CHECK_EVERY,
      headers: { Authorization: 'Bearer bridge-token' },
    },
    routes: [
      {
        name: 'orders',
        path: '/orders',
        target: target.url,
        delivery: { breaker: { after: 1, probe: { initial: '100ms', max: '200ms' } } },
      },
    ],
  });

  await send(hookq, '/orders', '{"n":1}');
  await waitUntil('a target.down alert', () => alertsOfType(alerts, 'target.down').length > 0);
  await target.up();
  await waitUntil('the message delivered', () => target.received.length > 0);
  await waitUntil('a target.up alert', () => alertsOfType(alerts, 'target.up').length > 0);
  await delay(SEVERAL_CHECKS_MS);

  const [down, ...moreDown] = alertsOfType(alerts, 'target.down');
  assert.deepEqual(moreDown, [], 'one target.down for the whole outage, however many probes');
  assert.equal(down!.route, 'orders');
  assert.match(down!.at, RFC3339);
  assert.match(down!.since!, RFC3339);
  assert.match(down!.lastError!, /ECONNREFUSED|connect/i);
  // The one message waits: queued, or out as a probe when the outage was noticed.
  assert.equal(down!.queued! + down!.inflight!, 1);
  const [up, ...moreUp] = alertsOfType(alerts, 'target.up');
  assert.deepEqual(moreUp, []);
  assert.equal(up!.downSince, down!.since);
  assert.match(up!.since!, RFC3339);

  // The held message made the route stuck while the target was down, for that reason.
  const [stuck] = alertsOfType(alerts, 'route.stuck');
  assert.equal(stuck?.why, 'target down');
  assert.deepEqual(
    alertsOf(alerts).map((event) => event.type),
    ['target.down', 'route.stuck', 'target.up', 'route.unstuck'],
  );

  const request = alerts.received[0]!;
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers['user-agent'], `hookq/${packageJson.version}`);
  assert.equal(request.headers.authorization, 'Bearer bridge-token');
});

test('dead letters that appear together are one deadletters.added with their count', async (t) => {
  const alerts = await receiver(t);
  const target = await receiver(t);
  const { hookq } = await startWithAlerts(
    t,
    {
      notify: { url: alerts.url, checkEvery: CHECK_EVERY },
      routes: [
        {
          name: 'r',
          path: '/r',
          target: target.url,
          group: { json: '/n' },
          retention: { queued: '1s' },
        },
      ],
    },
    // Sweeps at start and 2 s later: the five messages sent in between expire in one sweep.
    { sweepIntervalMs: 2_000 },
  );
  // Paused, so the messages stay queued until retention turns them into dead letters.
  await hookq.store.setPaused('r', true);
  for (let n = 0; n < 5; n++) await send(hookq, '/r', JSON.stringify({ n: String(n) }));

  await waitUntil('a deadletters.added alert', () => alerts.received.length > 0, 5_000);
  await delay(SEVERAL_CHECKS_MS);
  const dead = alertsOfType(alerts, 'deadletters.added');
  assert.equal(dead.length, 1, JSON.stringify(alertsOf(alerts)));
  assert.equal(dead[0]!.added, 5);
  assert.equal(dead[0]!.total, 5);
  assert.equal(dead[0]!.route, 'r');
  // A paused route is not stuck: someone chose to hold it.
  assert.deepEqual(alertsOfType(alerts, 'route.stuck'), []);
  assert.equal(target.received.length, 0);
});

test('a route whose groups are all held by dead letters gives route.stuck, and route.unstuck once freed', async (t) => {
  const alerts = await receiver(t);
  const target = await receiver(t, () => 422);
  const { hookq } = await startWithAlerts(t, {
    notify: { url: alerts.url, checkEvery: CHECK_EVERY },
    routes: [
      { name: 'r', path: '/r', target: target.url, ordering: 'strict', retry: { maxAttempts: 1 } },
    ],
  });

  const first = await send(hookq, '/r', '{"n":1}');
  await waitUntil(
    'the first message dead',
    async () => (await hookq.store.getMessage(first))?.state === 'dead',
  );
  await send(hookq, '/r', '{"n":2}'); // waits behind the dead letter of its group
  // One check may see both; it sends route.stuck first, so wait for each on its own.
  await waitUntil('a route.stuck alert', () => alertsOfType(alerts, 'route.stuck').length > 0);
  await waitUntil(
    'a deadletters.added alert',
    () => alertsOfType(alerts, 'deadletters.added').length > 0,
  );

  const [stuck] = alertsOfType(alerts, 'route.stuck');
  assert.equal(stuck!.why, 'groups blocked');
  assert.equal(stuck!.queued, 1);
  assert.equal(stuck!.blockedGroups, 1);
  assert.equal(typeof stuck!.oldestAgeSeconds, 'number');
  const [dead] = alertsOfType(alerts, 'deadletters.added');
  assert.deepEqual([dead!.added, dead!.total], [1, 1]);

  target.behaviour = () => 200;
  await hookq.store.discard(first);
  await waitUntil('the second message delivered', () => target.received.length === 2);
  await waitUntil('a route.unstuck alert', () => alertsOfType(alerts, 'route.unstuck').length > 0);
  await delay(SEVERAL_CHECKS_MS);
  assert.equal(alertsOfType(alerts, 'route.stuck').length, 1);
  assert.equal(alertsOfType(alerts, 'route.unstuck').length, 1);
});

test('an alert the receiver fails (500, 500) is sent again until it gets through', async (t) => {
  const alerts = await receiver(t, (_request, index) => (index < 2 ? 500 : 200));
  const target = await receiver(t);
  await target.down();
  const { hookq, logs } = await startWithAlerts(t, {
    notify: { url: alerts.url, checkEvery: CHECK_EVERY, retries: 3 },
    routes: [{ name: 'r', path: '/r', target: target.url, delivery: { breaker: { after: 1 } } }],
  });

  await send(hookq, '/r', '{}');
  await waitUntil('the third try answered', () => alerts.received[2]?.answeredAt !== undefined);
  const bodies = alerts.received.slice(0, 3).map((request) => request.body.toString());
  assert.equal(new Set(bodies).size, 1, 'the same alert each time');
  assert.equal(JSON.parse(bodies[0]!).type, 'target.down');
  await waitUntil('the log says it was sent', () =>
    logsSaying(logs, 'alert sent').some((entry) => entry.type === 'target.down'),
  );
  const sent = logsSaying(logs, 'alert sent').find((entry) => entry.type === 'target.down')!;
  assert.equal(sent.attempts, 3);
  assert.equal(sent.route, 'r');
  // Only the receiver's origin is logged, never its path (a chat webhook's credential).
  assert.equal(sent.notify, new URL(alerts.url).origin);
  assert.ok(!JSON.stringify(logs).includes('/webhook'), 'the receiver path is not logged');
  assert.deepEqual(logsSaying(logs, 'alert dropped: the receiver failed every try'), []);
});

test('a receiver that never answers costs deliveries nothing, and the dropped alert is logged', async (t) => {
  const alerts = await receiver(t, () => 'hang');
  const target = await receiver(t, (request) =>
    request.body.toString().includes('bad') ? 422 : 200,
  );
  const { hookq, logs } = await startWithAlerts(t, {
    notify: { url: alerts.url, checkEvery: CHECK_EVERY, timeout: '300ms', retries: 1 },
    routes: [
      {
        name: 'r',
        path: '/r',
        target: target.url,
        ordering: 'fifo',
        group: { json: '/n' },
        retry: { maxAttempts: 1 },
      },
    ],
  });

  const bad = await send(hookq, '/r', '{"n":"bad"}');
  await waitUntil(
    'the bad message dead',
    async () => (await hookq.store.getMessage(bad))?.state === 'dead',
  );
  await waitUntil('the alert reached the receiver', () => alerts.received.length > 0);
  // While that alert hangs, every other webhook is delivered.
  for (let n = 0; n < 20; n++) await send(hookq, '/r', JSON.stringify({ n: String(n) }));
  await waitUntil('twenty deliveries', () => target.received.length === 21);
  assert.deepEqual(logsSaying(logs, 'alert sent'), []);

  await waitUntil(
    'the drop logged',
    () => logsSaying(logs, 'alert dropped: the receiver failed every try').length > 0,
  );
  const [dropped] = logsSaying(logs, 'alert dropped: the receiver failed every try');
  assert.equal(dropped!.level, 40, 'logged at warn');
  assert.equal(dropped!.type, 'deadletters.added');
  assert.equal(dropped!.attempts, 2);
  assert.match(String(dropped!.error), /no response within 300ms/);
  assert.equal(alerts.received.length, 2, 'the first try and one retry');
});
