/**
 * Retention: a message that waits longer than `retention.queued` becomes a dead letter
 * saying it expired; dead letters and delivered history are deleted after their own
 * windows, each deletion logged.
 *
 * `hookq serve` sweeps once at start and then every minute, so the timed sweeps are
 * tested on startHookq with a short interval; the process test relies on the sweep at
 * start.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { startHookq } from '../../src/app.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { configFor, tempDir, writeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { accepted, post, serve } from './support.js';

/** A URL where nothing listens: every attempt is refused. */
async function unreachableUrl(): Promise<string> {
  const target = await TestTarget.start();
  await target.close();
  return target.url;
}

const RETRYING = { maxAttempts: 1000, backoff: { initial: '100ms', max: '200ms' } };

test('queued messages expire into the DLQ; old dead letters and delivered history are deleted', async (t) => {
  const healthy = await TestTarget.start();
  onEnd(t, () => healthy.close());
  const dir = removeAfter(t, tempDir('hookq-e2e-retention-'));
  const config = configFor(dir, {
    defaults: { retry: RETRYING, delivery: { timeout: '1s' } },
    routes: [
      {
        name: 'expiring',
        path: '/expiring',
        target: await unreachableUrl(),
        retention: { queued: '1s', deadLetter: '1500ms', delivered: '1h' },
      },
      {
        name: 'done',
        path: '/done',
        target: healthy.url,
        retention: { queued: '1h', deadLetter: '1h', delivered: '1s' },
      },
    ],
  });
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const hookq = await startHookq(config, { log, sweepIntervalMs: 100 });
  onEnd(t, () => hookq.close(1000));
  const said = (msg: string, id: string) =>
    logs.some((entry) => entry.msg === msg && entry.messageId === id);
  const deleted = (id: string) => async () => (await hookq.store.getMessage(id)) === null;

  const sentAt = Date.now();
  const waiting = accepted(
    await post(`${hookq.ingressUrl}/expiring`, '{"waits":true}'),
    'expiring',
    0,
    Buffer.from('{"waits":true}'),
  );
  const done = accepted(
    await post(`${hookq.ingressUrl}/done`, '{"done":true}'),
    'done',
    0,
    Buffer.from('{"done":true}'),
  );

  await waitUntil(
    'the waiting message expired',
    async () => (await hookq.store.getMessage(waiting.id))?.state === 'dead',
    5_000,
  );
  const expiredAfter = Date.now() - sentAt;
  const expired = await hookq.store.getMessage(waiting.id);
  assert.ok(expired);
  assert.match(expired.deadReason ?? '', /^expired/);
  assert.ok(expiredAfter >= 1000, `expired after ${expiredAfter}ms, before retention.queued`);
  // It was being retried all along: the attempts stay in its history.
  assert.ok(expired.history.length > 0);
  assert.ok(expired.history.every((attempt) => attempt.outcome === 'network_error'));
  // Logged once the change is on disk, which may be a moment after readers see it.
  await waitUntil(
    'the expiry logged',
    () => said('message expired into the dead-letter queue', waiting.id),
    5_000,
  );

  await waitUntil('the expired dead letter deleted', deleted(waiting.id), 5_000);
  await waitUntil(
    'the deletion logged',
    () => said('dead letter deleted: older than retention.deadLetter', waiting.id),
    5_000,
  );

  assert.equal(healthy.received.length, 1);
  await waitUntil('the delivered message deleted', deleted(done.id), 5_000);
  await waitUntil(
    'the deletion of delivered history logged',
    () =>
      logs.some(
        (entry) => entry.msg === 'delivered history deleted: older than retention.delivered',
      ),
    5_000,
  );
});

test('hookq serve expires a message that outlived retention.queued', async (t) => {
  const dir = removeAfter(t, tempDir('hookq-e2e-retention-'));
  const config = writeConfig(dir, {
    routes: [
      {
        name: 'expiring',
        path: '/expiring',
        target: await unreachableUrl(),
        group: { header: 'X-Group' },
        retry: RETRYING,
        delivery: { timeout: '1s' },
        retention: { queued: '1s' },
      },
    ],
  });
  const first = await serve(t, config);
  const body = Buffer.from('{"waits":true}');
  const waiting = accepted(
    await post(`${first.ingressUrl}/expiring`, body, { 'x-group': 'a' }),
    'a',
    0,
    body,
  );
  // Outlive retention.queued, then restart: serve sweeps when it starts.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.equal((await first.server.stop('SIGTERM')).code, 0);
  const second = await serve(t, config);
  const entry = await second.server.waitForLog(
    (e) => e.msg === 'message expired into the dead-letter queue' && e.messageId === waiting.id,
    5_000,
  );
  assert.match(String(entry.reason), /^expired/);

  const store = SqliteStore.open(join(dir, 'hookq.db'));
  onEnd(t, () => store.close());
  const stored = await store.getMessage(waiting.id);
  assert.equal(stored?.state, 'dead');
  assert.match(stored.deadReason ?? '', /^expired/);
  assert.ok(stored.body.equals(body));
});
