/**
 * SPEC §5a "Visible": a target's state changes are logged, once each, not once per probe.
 * `hookq serve` runs as a real process at debug level; its target refuses connections and
 * then answers 503 for many probe intervals, then takes everything. Its JSON log holds
 * exactly one warn "target is down…" and one info "target is up again…" for the route,
 * and every failed probe in between says "attempt failed; will retry" at debug only.
 *
 * It fails if the down (or up) line were written per probe or per instance of a flapping
 * state, or if failed probes were logged at info or warn: an operator watching the log
 * during a release would see a line every probe interval instead of one.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { waitUntil } from '../helpers/async.js';
import { onEnd } from '../helpers/cleanup.js';
import { routeConfig } from '../helpers/config.js';
import { type Behaviour, TestTarget } from '../helpers/target.js';
import { accepted, hookqHeaders, logsSaying, post, serve } from './support.js';

// The messages src/delivery/dispatcher.ts logs (noteTarget, logOutcome).
const DOWN = 'target is down: deliveries are held, and one probe at a time checks for its return';
const UP = 'target is up again: deliveries resume';
const FAILED = 'attempt failed; will retry';

test('a long outage logs one line when the target goes down and one when it is back, not one per probe', {
  timeout: 60_000,
}, async (t) => {
  let answer: ReturnType<Behaviour> = 503;
  const target = await TestTarget.start(() => answer);
  onEnd(t, () => target.close());
  await target.down(); // first the application is gone: connections refused
  const config = routeConfig(t, 'r', target.url, {
    group: { header: 'X-Group' },
    retry: { maxAttempts: 3, backoff: { initial: '50ms', max: '100ms' } },
    delivery: { timeout: '1s', breaker: { after: 3, probe: { initial: '100ms', max: '200ms' } } },
  });
  // Debug, so that the failed probes are in the log too and can be counted.
  const { server, ingressUrl } = await serve(t, config, ['--log-level', 'debug']);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  onEnd(t, () => agent.destroy());
  const sent: string[] = [];
  for (const group of ['a', 'b', 'c']) {
    for (let n = 0; n < 2; n++) {
      const body = Buffer.from(JSON.stringify({ group, n }));
      sent.push(
        accepted(await post(`${ingressUrl}/r`, body, { 'x-group': group }, agent), group, n, body)
          .id,
      );
    }
  }

  const downAt = () => server.logs.findIndex((entry) => entry.msg === DOWN);
  const failedSinceDown = () => server.logs.slice(downAt()).filter((entry) => entry.msg === FAILED);
  await waitUntil('the target is down', () => downAt() >= 0);
  // Many probe intervals with connections refused...
  await waitUntil('several probes refused', () => failedSinceDown().length >= 5, 10_000);
  // ...then the application is on its port again but answers 503: still down.
  await target.up();
  await waitUntil('several probes answered 503', () => target.received.length >= 5, 10_000);
  const failedWhileDown = failedSinceDown().length;

  answer = 200;
  const back = target.received.length; // requests from here on are answered 200
  const delivered = () => new Set(target.received.slice(back).map((r) => hookqHeaders(r).id));
  await waitUntil('every message delivered', () => sent.every((id) => delivered().has(id)), 15_000);
  await server.waitForLog((entry) => entry.msg === UP, 5_000);

  const down = logsSaying(server, DOWN);
  const up = logsSaying(server, UP);
  assert.equal(down.length, 1, `"${DOWN}" logged ${down.length} times`);
  assert.equal(up.length, 1, `"${UP}" logged ${up.length} times`);
  assert.equal(down[0]!.level, 'warn');
  assert.equal(down[0]!.route, 'r');
  assert.equal(up[0]!.level, 'info');
  assert.equal(up[0]!.route, 'r');

  // Every attempt that failed between the two lines was a probe of the down target.
  const from = server.logs.indexOf(down[0]!);
  const to = server.logs.indexOf(up[0]!);
  assert.ok(from < to, 'down, then up');
  const probes = server.logs.slice(from, to).filter((entry) => entry.msg === FAILED);
  assert.ok(
    probes.length >= failedWhileDown && probes.length >= 8,
    `${probes.length} failed probes`,
  );
  for (const probe of probes) {
    assert.equal(
      probe.level,
      'debug',
      `a failed probe logged at ${probe.level}: ${JSON.stringify(probe)}`,
    );
  }
  assert.equal(logsSaying(server, 'dead-lettered').length, 0, 'the outage dead-lettered nothing');
});
