/**
 * On PostgreSQL one instance sends the alerts of all: a receiver gets each event once, not
 * once per instance, and when that instance dies another one takes over.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlertEvent } from '../../src/alerts/events.js';
import { logsSaying, post, serve } from '../e2e/support.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { routeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { holdPgDuringFile, pgSkip, pgStorage } from './support.js';

holdPgDuringFile('hookq_test_cluster_alerts');

const STANDING_BY = 'alerts: another instance sends them; this one takes over if it stops';
const TAKING_OVER = 'alerts: this instance sends them now';

test('three instances send each alert once; another sends them once the sender is killed', {
  skip: pgSkip,
}, async (t) => {
  let answer = 503;
  const target = await TestTarget.start(() => answer);
  onEnd(t, () => target.close());
  const receiver = await TestTarget.start(() => 200);
  onEnd(t, () => receiver.close());
  const storage = pgStorage(t);
  const checkMs = 100;
  const config = routeConfig(
    t,
    'r',
    target.url,
    {
      retry: { maxAttempts: 100, backoff: { initial: '50ms', max: '100ms' } },
      delivery: { timeout: '1s', breaker: { after: 2, probe: { initial: '200ms', max: '200ms' } } },
    },
    { storage: { url: storage.url }, notify: { url: receiver.url, checkEvery: `${checkMs}ms` } },
  );
  const instances = await Promise.all([serve(t, config), serve(t, config), serve(t, config)]);
  const received = (type: AlertEvent['type']) =>
    receiver.received
      .map((request) => JSON.parse(request.body.toString('utf8')) as AlertEvent)
      .filter((event) => event.type === type);

  const senders = instances.filter(({ server }) => logsSaying(server, STANDING_BY).length === 0);
  assert.equal(senders.length, 1, 'one instance sends the alerts, the others stand by');
  assert.equal((await post(`${instances[0]!.ingressUrl}/r`, '{"n":1}')).status, 200);
  await waitUntil(
    'the receiver is told the target is down',
    () => received('target.down').length > 0,
  );
  // Every instance reads the same breaker state; ten intervals let any other sender show.
  await delay(checkMs * 10);
  assert.equal(received('target.down').length, 1, 'the event came once, not once per instance');

  await senders[0]!.server.stop('SIGKILL');
  const others = instances.filter((instance) => instance !== senders[0]);
  await waitUntil('another instance takes the alerts over', () =>
    others.some(({ server }) => logsSaying(server, TAKING_OVER).length > 0),
  );
  assert.equal(
    others.filter(({ server }) => logsSaying(server, TAKING_OVER).length > 0).length,
    1,
    'one instance took them over',
  );
  // As after a restart, the one that takes over reports a target still down, once.
  await waitUntil(
    'the new sender reports the target down',
    () => received('target.down').length === 2,
  );

  answer = 200;
  await waitUntil('the receiver is told the target is up', () => received('target.up').length > 0);
  await delay(checkMs * 10);
  assert.equal(received('target.up').length, 1, 'the event came once, not once per instance');
  assert.equal(received('target.down').length, 2);
});
