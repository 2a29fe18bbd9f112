/**
 * `kill -9` of `hookq serve` in the middle of a steady stream of webhooks, several times:
 * no acknowledged webhook is lost, group order holds, and the only repeats are of
 * attempts that were under way when the process died.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { routeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { assertFirstDeliveriesInOrder, deliveriesIn, post, serve } from './support.js';

const KILLS = 3;
/** Messages of the one group in the look-ahead test. */
const CHAIN = 3_000;
const CHAIN_KILLS = 8;
const GROUPS = 8;
/** How long after a kill the target may still read requests the dead process had sent. */
const DRAIN_MS = 250;

test('SIGKILL under load loses no acknowledged webhook and keeps group order', async (t) => {
  // A few milliseconds per answer, so that kills often land while attempts are in flight.
  const target = await TestTarget.start(() => ({ status: 200, afterMs: randomInt(30) }));
  onEnd(t, () => target.close());
  const config = routeConfig(t, 'crash', target.url, {
    group: { header: 'X-Group' },
    retry: { maxAttempts: 1000, backoff: { initial: '50ms', max: '200ms' } },
    // The lease after a crash lasts 1s + 1s.
    delivery: { timeout: '1s', maxConcurrency: 16 },
  });
  let { server, ingressUrl } = await serve(t, config);
  const agent = new Agent({ keepAlive: true, maxSockets: GROUPS });
  onEnd(t, () => agent.destroy());

  /** Message id of each acknowledged webhook, by "group/n". */
  const acknowledged = new Map<string, string>();
  let sending = true;
  const giveUpAt = Date.now() + 60_000;
  // Each group's sender sends its next webhook only once the previous one was
  // acknowledged, like a provider retrying with the same body: the content dedup then
  // answers a repeat of a webhook stored just before a kill with its original id.
  const senders = Array.from({ length: GROUPS }, async (_, g) => {
    const group = `g${g}`;
    for (let n = 0; sending && Date.now() < giveUpAt; n++) {
      const body = Buffer.from(JSON.stringify({ group, n }));
      while (sending && Date.now() < giveUpAt) {
        try {
          const reply = await post(`${ingressUrl}/crash`, body, { 'x-group': group }, agent);
          if (reply.status === 200 && reply.json.messageId) {
            acknowledged.set(`${group}/${n}`, reply.json.messageId);
            break;
          }
        } catch {
          // Down or restarting: try again; the answer was never a 2xx.
        }
        await delay(20);
      }
      await delay(5);
    }
  });

  /** Each kill, and when the next process was spawned (after the old one exited). */
  const kills: Array<{ killedAt: number; respawnedAt: number }> = [];
  try {
    for (let k = 0; k < KILLS; k++) {
      await delay(300 + randomInt(900));
      const killedAt = Date.now();
      const { signal } = await server.stop('SIGKILL');
      assert.equal(signal, 'SIGKILL');
      const respawnedAt = Date.now();
      ({ server, ingressUrl } = await serve(t, config));
      kills.push({ killedAt, respawnedAt });
    }
    await delay(300);
  } finally {
    sending = false;
    await Promise.all(senders);
  }

  const received = () => deliveriesIn(target.received);
  await waitUntil(
    'every acknowledged webhook delivered',
    () => {
      const ids = new Set(received().map((r) => r.id));
      return [...acknowledged.values()].every((id) => ids.has(id));
    },
    20_000,
  );
  await delay(300);
  const all = received();

  // The same webhook (group/n) always carries one message id, the one it was acknowledged with.
  const idOf = new Map<string, string>();
  for (const r of all) {
    const { group, n } = JSON.parse(r.body.toString('utf8')) as { group: string; n: number };
    assert.equal(r.group, group);
    const key = `${group}/${n}`;
    assert.equal(idOf.get(key) ?? r.id, r.id, `${key} was delivered under two message ids`);
    idOf.set(key, r.id);
    const ack = acknowledged.get(key);
    if (ack !== undefined)
      assert.equal(r.id, ack, `${key} delivered under another id than acknowledged`);
  }

  assertFirstDeliveriesInOrder(all);
  // The sender's own counter agrees with the sequences hookq assigned.
  const lastN = new Map<string, number>();
  const first = new Set<string>();
  for (const r of all) {
    if (first.has(r.id)) continue;
    first.add(r.id);
    const { n } = JSON.parse(r.body.toString('utf8')) as { n: number };
    assert.ok(
      n > (lastN.get(r.group) ?? -1),
      `${r.group}: webhook ${n} first delivered out of order`,
    );
    lastN.set(r.group, n);
  }

  // A repeat only ever follows a kill: the earlier attempt reached the target from the
  // process that died, the later one from its successor. Requests the dead process had
  // already written may still be read by the target shortly after the kill; its successor
  // needs far longer than that to start.
  let repeated = 0;
  const byId = new Map<string, typeof all>();
  for (const r of all) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  for (const [id, deliveries] of byId) {
    for (let i = 1; i < deliveries.length; i++) {
      repeated += 1;
      const [before, after] = [deliveries[i - 1]!, deliveries[i]!];
      assert.ok(
        kills.some((kill) => before.at <= kill.killedAt + DRAIN_MS && after.at >= kill.respawnedAt),
        `${id} delivered twice without a kill in between`,
      );
      assert.ok(after.attempt > before.attempt, `${id}: the repeat has no higher Hookq-Attempt`);
    }
  }
  assert.ok(acknowledged.size > 100, `only ${acknowledged.size} webhooks acknowledged`);
  t.diagnostic(
    `${acknowledged.size} acknowledged, ${all.length} deliveries, ${repeated} repeats after ${kills.length} kills`,
  );

  const stopped = await server.stop('SIGTERM');
  assert.equal(stopped.code, 0);
});

test('SIGKILL while one group drains, its next message leased ahead: every attempt the target saw is recorded', async (t) => {
  // Answers at once: a backlog of one group then goes out as a chain, each message sent the
  // moment the one before it is delivered, and nearly always before that outcome commits.
  const target = await TestTarget.start(() => 200);
  onEnd(t, () => target.close());
  const config = routeConfig(t, 'chain', target.url, {
    group: { header: 'X-Group' },
    retry: { maxAttempts: 1000, backoff: { initial: '50ms', max: '200ms' } },
    delivery: { timeout: '1s', maxConcurrency: 4 },
  });
  let { server, ingressUrl, adminUrl } = await serve(t, config);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  onEnd(t, () => agent.destroy());

  // The backlog is built while the route is paused, so that the drain is one long chain.
  assert.equal((await fetch(`${adminUrl}/api/routes/chain/pause`, { method: 'POST' })).status, 200);
  const ids: string[] = [];
  for (let n = 0; n < CHAIN; n++) {
    const reply = await post(
      `${ingressUrl}/chain`,
      Buffer.from(`{"n":${n}}`),
      { 'x-group': 'g' },
      agent,
    );
    assert.equal(reply.status, 200);
    ids.push(String(reply.json.messageId));
  }
  assert.equal(
    (await fetch(`${adminUrl}/api/routes/chain/resume`, { method: 'POST' })).status,
    200,
  );

  let kills = 0;
  for (; kills < CHAIN_KILLS; kills++) {
    // Only once the drain goes on (after a kill, when the lost leases have run out).
    const before = target.received.length;
    await waitUntil('the drain going on', () => target.received.length > before + 50, 10_000);
    await delay(randomInt(100));
    await server.stop('SIGKILL');
    ({ server, ingressUrl, adminUrl } = await serve(t, config));
  }
  await waitUntil(
    'the whole backlog delivered',
    () => new Set(deliveriesIn(target.received).map((r) => r.id)).size === CHAIN,
    60_000,
  );
  await delay(300);
  const all = deliveriesIn(target.received);
  assertFirstDeliveriesInOrder(all);
  const seen = new Map<string, number[]>();
  for (const r of all) seen.set(r.id, [...(seen.get(r.id) ?? []), r.attempt]);
  assert.ok(seen.size === CHAIN && ids.every((id) => seen.has(id)));

  // Each attempt that reached the target is in its message's history, under the number
  // the target saw: a message sent before the outcome it followed had committed, then
  // lost to the kill, must not come back as the same attempt again.
  let repeats = 0;
  for (const [id, attempts] of seen) {
    if (attempts.length > 1) repeats += attempts.length - 1;
    for (let i = 1; i < attempts.length; i++) {
      assert.ok(attempts[i]! > attempts[i - 1]!, `${id} was sent twice as attempt ${attempts[i]}`);
    }
    if (attempts.length === 1 && attempts[0] === 1) continue;
    const detail = (await (await fetch(`${adminUrl}/api/messages/${id}`)).json()) as {
      history: Array<{ number: number }>;
    };
    const recorded = new Set(detail.history.map((attempt) => attempt.number));
    for (const attempt of attempts) {
      assert.ok(recorded.has(attempt), `${id}: attempt ${attempt} reached the target unrecorded`);
    }
  }
  t.diagnostic(
    `${CHAIN} messages in one group, ${all.length} deliveries, ${repeats} repeats after ${kills} kills`,
  );
  assert.equal((await server.stop('SIGTERM')).code, 0);
});
