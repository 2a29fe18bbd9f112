/**
 * SPEC §5a over real HTTP: an outage of the application, however long, ends by itself
 * with nothing dead-lettered and nothing hammered; a message that keeps failing while
 * the rest of the route gets through still ends in the dead-letter queue; the target's
 * own Retry-After is honoured; a drain never starts more than maxPerSecond attempts in
 * any second; the breaker's state outlives a restart.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { type TestContext, test } from 'node:test';
import { type RunningHookq, startHookq } from '../../src/app.js';
import { delay, waitUntil } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { configFor, routeConfig, tempDir } from '../helpers/config.js';
import { type Behaviour, TestTarget } from '../helpers/target.js';
import {
  type Accepted,
  accepted,
  assertFirstDeliveriesInOrder,
  deliveriesIn,
  hookqHeaders,
  logsSaying,
  post,
  serve,
} from './support.js';

interface RouteView {
  name: string;
  state: string;
  deadLetter: number;
  queued: number;
  health: { state: 'up' | 'down'; since: string | null; lastError: string | null };
}

async function routeView(adminUrl: string, name: string): Promise<RouteView> {
  const response = await fetch(`${adminUrl}/api/routes`);
  const { routes } = (await response.json()) as { routes: RouteView[] };
  return routes.find((route) => route.name === name)!;
}

async function start(t: TestContext, route: Record<string, unknown>): Promise<RunningHookq> {
  const dir = removeAfter(t, tempDir('hookq-heal-'));
  const hookq = await startHookq(configFor(dir, { routes: [{ name: 'r', path: '/r', ...route }] }));
  onEnd(t, () => hookq.close(1_000));
  return hookq;
}

async function send(
  hookq: RunningHookq,
  groups: readonly string[],
  perGroup: number,
  agent: Agent,
): Promise<Accepted[]> {
  const sent: Accepted[] = [];
  for (let n = 0; n < perGroup; n++) {
    for (const group of groups) {
      const body = Buffer.from(JSON.stringify({ group, n }));
      sent.push(
        accepted(
          await post(`${hookq.ingressUrl}/r`, body, { 'x-group': group }, agent),
          group,
          n,
          body,
        ),
      );
    }
  }
  return sent;
}

test('an outage ten times longer than the retry budget dead-letters nothing and is probed, not hammered', async (t) => {
  let answer: ReturnType<Behaviour> = 503;
  const target = await TestTarget.start(() => answer);
  onEnd(t, () => target.close());
  await target.down(); // first the application is gone altogether: connections refused
  const probeMaxMs = 400;
  const hookq = await start(t, {
    target: target.url,
    group: { header: 'X-Group' },
    // The retry budget: three attempts over about 300 ms.
    retry: { maxAttempts: 3, backoff: { initial: '100ms', max: '200ms' } },
    delivery: {
      timeout: '1s',
      maxConcurrency: 8,
      breaker: { after: 3, probe: { initial: '100ms', max: `${probeMaxMs}ms` } },
    },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  onEnd(t, () => agent.destroy());
  const groups = Array.from({ length: 10 }, (_, i) => `g${i}`);
  const sent = await send(hookq, groups, 3, agent);

  await waitUntil(
    'the target is down',
    async () => (await routeView(hookq.adminUrl, 'r')).health.state === 'down',
  );
  const down = await routeView(hookq.adminUrl, 'r');
  assert.equal(down.state, 'stuck', 'a route whose target is down is stuck, not delivering');
  assert.match(down.health.lastError ?? '', /ECONNREFUSED|refused/i);
  await delay(1_500);

  // Then it is back on its port but answers 503: every request it sees now is a probe.
  await target.up();
  const before = target.received.length;
  const since = Date.now();
  await delay(2_000);
  const probes = target.received.length - before;
  const elapsed = Date.now() - since;
  assert.ok(probes >= 1, 'the down target was probed');
  assert.ok(
    probes <= Math.ceil(elapsed / probeMaxMs) + 2,
    `${probes} requests in ${elapsed} ms: more than one per probe interval`,
  );
  assert.equal((await routeView(hookq.adminUrl, 'r')).deadLetter, 0);

  // The application returns: everything arrives, in group order, promptly.
  answer = 200;
  const back = Date.now();
  const deliveredIds = () =>
    new Set(
      target.received
        .filter((received) => received.at >= back)
        .map((received) => hookqHeaders(received).id),
    );
  await waitUntil('every message delivered', () => deliveredIds().size >= sent.length, 10_000);
  const lastArrival = Math.max(...target.received.map((received) => received.at));
  assert.ok(
    lastArrival - back < probeMaxMs + 2_000,
    `the backlog took ${lastArrival - back} ms after the target returned`,
  );
  const view = await routeView(hookq.adminUrl, 'r');
  assert.equal(view.deadLetter, 0, 'the outage dead-lettered nothing');
  assert.equal(view.health.state, 'up');
  assertFirstDeliveriesInOrder(deliveriesIn(target.received.filter((r) => r.at >= back)));
  for (const message of sent) {
    const detail = (await (await fetch(`${hookq.adminUrl}/api/messages/${message.id}`)).json()) as {
      state: string;
    };
    assert.equal(detail.state, 'delivered');
  }
});

test('a message that keeps failing while the rest of the route gets through is dead-lettered', async (t) => {
  // One message always answered 503, one always 422; every other one is taken.
  const target = await TestTarget.start((received) => {
    const { group } = JSON.parse(received.body.toString()) as { group: string };
    if (group === 'unavailable') return 503;
    if (group === 'rejected') return 422;
    return 200;
  });
  onEnd(t, () => target.close());
  const hookq = await start(t, {
    target: target.url,
    group: { header: 'X-Group' },
    retry: { maxAttempts: 3, backoff: { initial: '150ms', max: '150ms', jitter: 0 } },
    delivery: { breaker: { after: 3, probe: { initial: '100ms', max: '200ms' } } },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  onEnd(t, () => agent.destroy());
  const [unavailable, rejected] = await send(hookq, ['unavailable', 'rejected'], 1, agent);
  // The others keep arriving, so the application is plainly up.
  let sending = true;
  const others = (async () => {
    for (let n = 0; sending && n < 200; n++) {
      await send(hookq, [`ok${n}`], 1, agent);
      await delay(40);
    }
  })();
  onEnd(t, async () => {
    sending = false;
    await others;
  });
  for (const message of [unavailable!, rejected!]) {
    await waitUntil(
      `message ${message.group} dead-lettered`,
      async () => {
        const detail = (await (
          await fetch(`${hookq.adminUrl}/api/messages/${message.id}`)
        ).json()) as { state: string };
        return detail.state === 'dead';
      },
      10_000,
    );
    const detail = (await (await fetch(`${hookq.adminUrl}/api/messages/${message.id}`)).json()) as {
      deadReason: string;
      history: unknown[];
    };
    assert.match(detail.deadReason, /^failed 3 of 3 attempts/);
  }
  sending = false;
  await others;
  assert.equal((await routeView(hookq.adminUrl, 'r')).health.state, 'up');
});

test("the target's Retry-After, in seconds and as an HTTP date, sets when the message goes again", async (t) => {
  const target = await TestTarget.start((_request, index) => {
    if (index === 0) return { status: 429, headers: { 'retry-after': '1' } };
    if (index === 1) {
      return {
        status: 503,
        headers: { 'retry-after': new Date(Date.now() + 2_000).toUTCString() },
      };
    }
    return 200;
  });
  onEnd(t, () => target.close());
  const hookq = await start(t, {
    target: target.url,
    retry: { maxAttempts: 5, backoff: { initial: '20ms', max: '10s', jitter: 0 } },
    delivery: { breaker: 'off' },
  });
  const agent = new Agent({ keepAlive: true });
  onEnd(t, () => agent.destroy());
  await send(hookq, ['g'], 1, agent);
  await target.waitFor((received) => received.length >= 3, 10_000);
  const [first, second, third] = target.received.map((received) => received.at);
  assert.ok(second! - first! >= 950, `Retry-After: 1 waited only ${second! - first!} ms`);
  // An HTTP date has whole seconds: the wait is between one and two seconds.
  assert.ok(third! - second! >= 950, `Retry-After as a date waited only ${third! - second!} ms`);
});

test('a drain after recovery never starts more than maxPerSecond attempts in any second', async (t) => {
  const target = await TestTarget.start(() => 200);
  onEnd(t, () => target.close());
  const hookq = await start(t, {
    target: target.url,
    group: { header: 'X-Group' },
    delivery: { maxConcurrency: 16, maxPerSecond: 20 },
  });
  const pause = await fetch(`${hookq.adminUrl}/api/routes/r/pause`, { method: 'POST' });
  assert.equal(pause.status, 200);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  onEnd(t, () => agent.destroy());
  const sent = await send(
    hookq,
    Array.from({ length: 30 }, (_, i) => `g${i}`),
    2,
    agent,
  );
  await fetch(`${hookq.adminUrl}/api/routes/r/resume`, { method: 'POST' });
  await target.waitFor((received) => received.length >= sent.length, 20_000);
  // When hookq started each attempt, as it recorded them.
  const starts: number[] = [];
  for (const message of sent) {
    const detail = (await (await fetch(`${hookq.adminUrl}/api/messages/${message.id}`)).json()) as {
      history: Array<{ startedAt: string }>;
    };
    for (const attempt of detail.history) starts.push(Date.parse(attempt.startedAt));
  }
  starts.sort((a, b) => a - b);
  let most = 0;
  for (const [i, from] of starts.entries()) {
    const inWindow = starts.slice(i).filter((at) => at < from + 1_000).length;
    most = Math.max(most, inWindow);
  }
  assert.ok(most <= 20, `${most} attempts started within one second`);
  // And it did drain at about that rate, not far below it.
  const span = starts.at(-1)! - starts[0]!;
  assert.ok(span < (sent.length / 20) * 1_000 + 2_000, `the drain took ${span} ms`);
});

test('the breaker state survives a restart: a restarted hookq does not hammer a down target', async (t) => {
  const target = await TestTarget.start(() => 503);
  onEnd(t, () => target.close());
  const config = routeConfig(t, 'r', target.url, {
    group: { header: 'X-Group' },
    retry: { maxAttempts: 3, backoff: { initial: '50ms', max: '100ms' } },
    delivery: { breaker: { after: 2, probe: { initial: '30s', max: '30s' } } },
  });
  const first = await serve(t, config);
  for (const group of ['a', 'b', 'c']) {
    await post(`${first.ingressUrl}/r`, Buffer.from(group), { 'x-group': group });
  }
  await first.server.waitForLog(
    (entry) =>
      entry.msg ===
      'target is down: deliveries are held, and one probe at a time checks for its return',
  );
  assert.equal((await first.server.stop('SIGTERM')).code, 0);

  const seen = target.received.length;
  const second = await serve(t, config);
  await delay(1_500);
  assert.equal(
    target.received.length,
    seen,
    'the restarted hookq waited for the next probe instead of trying every group again',
  );
  assert.equal(logsSaying(second.server, 'dead-lettered').length, 0);
});
