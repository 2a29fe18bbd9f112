/**
 * The notifier against a real receiver: its queue is bounded (the oldest waiting alert
 * goes, and the log says so), a refusal is not retried, and closing drops what is unsent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlertEvent } from '../../src/alerts/events.js';
import { MAX_WAITING_ALERTS, Notifier } from '../../src/alerts/notifier.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { TestTarget } from '../helpers/target.js';
import { keptLog, logsSaying } from './support.js';

function deadLetters(route: string): AlertEvent {
  return {
    type: 'deadletters.added',
    route,
    at: new Date().toISOString(),
    added: 1,
    total: 1,
    text: `1 new dead letter on route ${route}`,
  };
}

function notifierFor(receiver: TestTarget, options: { retries?: number } = {}) {
  const { log, logs } = keptLog();
  const notifier = new Notifier({
    url: receiver.url,
    headers: [],
    timeoutMs: 30_000,
    retries: options.retries ?? 0,
    userAgent: 'hookq/test',
    log,
  });
  return { notifier, logs };
}

test('alerts beyond the bound drop the oldest waiting one, each drop logged', async (t) => {
  const receiver = await TestTarget.start(() => 'hang');
  onEnd(t, () => receiver.close());
  const { notifier, logs } = notifierFor(receiver);
  onEnd(t, () => notifier.close());

  // The first is sent (and hangs); the next ones wait, two more than the bound.
  for (let n = 0; n <= MAX_WAITING_ALERTS + 2; n++) notifier.send(deadLetters(`r${n}`));
  await waitUntil('the first alert at the receiver', () => receiver.received.length === 1);

  const dropped = logsSaying(
    logs,
    'alert dropped: too many alerts wait for the receiver; newer ones are kept',
  );
  assert.deepEqual(
    dropped.map((entry) => [entry.route, entry.level]),
    [
      ['r1', 40],
      ['r2', 40],
    ],
  );

  await notifier.close();
  const [atShutdown] = logsSaying(logs, 'alerts not sent at shutdown were dropped');
  assert.equal(
    atShutdown?.unsent,
    MAX_WAITING_ALERTS + 1,
    'the waiting ones and the one in flight',
  );
  notifier.send(deadLetters('late'));
  assert.equal(receiver.received.length, 1, 'nothing is sent once closed');
});

test('an alert the receiver refuses (4xx) is dropped at once, not retried', async (t) => {
  const receiver = await TestTarget.start(() => 404);
  onEnd(t, () => receiver.close());
  const { notifier, logs } = notifierFor(receiver, { retries: 3 });
  onEnd(t, () => notifier.close());

  notifier.send(deadLetters('r'));
  await waitUntil(
    'the refusal logged',
    () => logsSaying(logs, 'alert dropped: the receiver refused it').length > 0,
  );
  const [refused] = logsSaying(logs, 'alert dropped: the receiver refused it');
  assert.equal(refused!.error, 'HTTP 404');
  assert.equal(refused!.attempts, 1);
  assert.equal(receiver.received.length, 1);
});

test('a 429 with Retry-After is sent again after that wait, in order with the alerts behind it', async (t) => {
  const receiver = await TestTarget.start((_request, index) =>
    index === 0 ? { status: 429, headers: { 'retry-after': '0' } } : 200,
  );
  onEnd(t, () => receiver.close());
  const { notifier } = notifierFor(receiver, { retries: 1 });
  onEnd(t, () => notifier.close());

  notifier.send(deadLetters('first'));
  notifier.send(deadLetters('second'));
  await waitUntil('three requests', () => receiver.received.length === 3);
  assert.deepEqual(
    receiver.received.map((request) => JSON.parse(request.body.toString()).route),
    ['first', 'first', 'second'],
  );
});
