/**
 * The application goes through every kind of outage while webhooks keep coming:
 * error statuses, reset connections, refused connections, requests that hang past the
 * delivery timeout. When it comes back, everything arrives, in order, by itself.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { routeConfig } from '../helpers/config.js';
import { type Behaviour, TestTarget } from '../helpers/target.js';
import { type Accepted, accepted, hookqHeaders, logsSaying, post, serve } from './support.js';

test('webhooks sent during a target outage all arrive in group order once it recovers', async (t) => {
  // What the target answered each request, by its index in target.received.
  const answers: Array<ReturnType<Behaviour>> = [];
  let phase: ReturnType<Behaviour> = 503;
  const target = await TestTarget.start((_request, index) => {
    answers[index] = phase;
    return phase;
  });
  onEnd(t, () => target.close());
  const config = routeConfig(t, 'outage', target.url, {
    group: { header: 'X-Group' },
    // Enough attempts to outlast the outage: nothing may be dead-lettered here.
    retry: { maxAttempts: 1000, backoff: { initial: '50ms', max: '200ms' } },
    // Every kind of failure must meet the retry path itself here; the breaker, which
    // holds a down target's route to one probe at a time, is tested in hold-and-heal.
    delivery: { timeout: '1s', maxConcurrency: 8, breaker: 'off' },
  });
  const { server, ingressUrl } = await serve(t, config);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  onEnd(t, () => agent.destroy());

  const groups = ['a', 'b', 'c', 'd'];
  const sent: Accepted[] = [];
  let sending = true;
  const sender = (async () => {
    for (let i = 0; sending && i < 500; i++) {
      const group = groups[i % groups.length]!;
      const n = Math.floor(i / groups.length);
      const body = Buffer.from(JSON.stringify({ group, n }));
      sent.push(
        accepted(
          await post(`${ingressUrl}/outage`, body, { 'x-group': group }, agent),
          group,
          n,
          body,
        ),
      );
      await delay(40);
    }
  })();

  await delay(1000);
  phase = 'reset';
  await delay(500);
  await target.down();
  await delay(1000);
  phase = 'hang';
  await target.up();
  await delay(1500);
  phase = 200;
  sending = false;
  await sender;

  const isDelivery = (index: number) => answers[index] === 200;
  const deliveredIds = () =>
    new Set(
      target.received.flatMap((received, index) =>
        isDelivery(index) ? [hookqHeaders(received).id] : [],
      ),
    );
  await waitUntil('every message delivered', () => deliveredIds().size >= sent.length, 20_000);
  await delay(300);

  // Exactly one successful delivery per message, and nothing that was never accepted.
  const bySequence = new Map(sent.map((message) => [message.sequence, message]));
  const deliveries = new Map<string, number>();
  const attemptsSeen = new Map<string, number[]>();
  // Per group, how many of its messages (in sequence order) have had their 2xx.
  const done = new Map<string, number>();
  const order = (group: string) =>
    sent.filter((m) => m.group === group).sort((a, b) => a.sequence - b.sequence);
  for (const [index, received] of target.received.entries()) {
    const hq = hookqHeaders(received);
    const message = bySequence.get(hq.sequence);
    assert.ok(message && message.id === hq.id, `unknown message ${hq.id}`);
    assert.equal(hq.group, message.group);
    assert.ok(received.body.equals(message.body));

    // FIFO: a message is only ever sent once every earlier one of its group was delivered.
    const position = order(message.group).findIndex((m) => m.id === message.id);
    assert.equal(
      position,
      done.get(message.group) ?? 0,
      `group ${message.group}: message ${message.n} sent before the ones ahead of it were delivered`,
    );
    const attempts = attemptsSeen.get(hq.id) ?? [];
    assert.ok(
      attempts.length === 0 || hq.attempt > attempts.at(-1)!,
      `Hookq-Attempt of ${hq.id} did not increase: ${[...attempts, hq.attempt].join(', ')}`,
    );
    attemptsSeen.set(hq.id, [...attempts, hq.attempt]);
    if (isDelivery(index)) {
      deliveries.set(hq.id, (deliveries.get(hq.id) ?? 0) + 1);
      done.set(message.group, position + 1);
    }
  }
  assert.equal(deliveries.size, sent.length);
  for (const [id, count] of deliveries) assert.equal(count, 1, `${id} delivered ${count} times`);

  // The outage really covered each failure kind, and hookq retried through it.
  assert.ok(sent.length >= 40, `only ${sent.length} webhooks sent`);
  for (const kind of [503, 'reset', 'hang'] as const) {
    assert.ok(answers.includes(kind), `no attempt met the ${kind} phase`);
  }
  const outcomes = new Set(
    logsSaying(server, 'attempt failed; will retry').map((entry) => entry.outcome),
  );
  for (const outcome of ['http_error', 'network_error', 'timeout']) {
    assert.ok(outcomes.has(outcome), `no ${outcome} attempt in hookq's log`);
  }
  const retried = target.received.filter(
    (received, index) => isDelivery(index) && hookqHeaders(received).attempt > 1,
  );
  assert.ok(retried.length > 0, 'no message needed a retry');
  assert.equal(logsSaying(server, 'dead-lettered').length, 0);
});
