/**
 * The happy path through a real `hookq serve`: many webhooks sent at once over many
 * groups reach a real target exactly once, in per-group order, byte for byte, with the
 * sender's headers and hookq's own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { test } from 'node:test';
import { delay } from '../helpers/async.js';
import { onEnd, removeAfter } from '../helpers/cleanup.js';
import { tempDir, writeConfig } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import {
  type Accepted,
  accepted,
  assertFirstDeliveriesInOrder,
  type Delivery,
  hookqHeaders,
  post,
  serve,
} from './support.js';

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

test('every webhook reaches the target once, in group order, with its exact bytes and headers', async (t) => {
  const target = await TestTarget.start();
  onEnd(t, () => target.close());
  const dir = removeAfter(t, tempDir('hookq-e2e-delivery-'));
  const config = writeConfig(dir, {
    defaults: {
      retry: { maxAttempts: 5, backoff: { initial: '50ms', max: '200ms' } },
      delivery: { timeout: '2s', maxConcurrency: 16 },
    },
    routes: [
      { name: 'orders', path: '/orders', target: target.url, group: { json: '/group' } },
      { name: 'tenants', path: '/tenants', target: target.url, group: { header: 'X-Tenant' } },
    ],
  });
  const { ingressUrl } = await serve(t, config);
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  onEnd(t, () => agent.destroy());

  interface Sent extends Accepted {
    route: string;
    headers: Record<string, string | string[]>;
    /** Ingress received it between these two instants. */
    from: number;
    to: number;
  }
  const sent: Sent[] = [];

  async function send(
    route: 'orders' | 'tenants',
    group: string,
    n: number,
    body: Buffer,
    headers: Record<string, string | string[]>,
  ) {
    const from = Date.now();
    const reply = await post(`${ingressUrl}/${route}`, body, headers, agent);
    sent.push({ ...accepted(reply, group, n, body), route, headers, from, to: Date.now() });
  }

  function jsonBody(group: string, n: number): Buffer {
    // Non-ASCII text and random padding: bytes must survive untouched, and no two
    // bodies are alike (content dedup is on).
    return Buffer.from(
      JSON.stringify({ group, n, text: `héllo ✓ ${n}`, pad: randomBytes(8).toString('hex') }),
    );
  }

  // One sender per group, all at once: within a group each waits for its answer, so the
  // sender's own counter n is the order the group was sent in.
  const orderGroups = Array.from({ length: 10 }, (_, g) => (g === 9 ? 'grüppe-9' : `g${g}`));
  const tenantGroups = Array.from({ length: 5 }, (_, g) => `tenant-${g}`);
  const streams = [
    ...orderGroups.map(async (group) => {
      for (let n = 0; n < 30; n++) {
        await send('orders', group, n, jsonBody(group, n), {
          'user-agent': 'e2e-sender/1',
          'x-custom': `value-${n}`,
          'x-multi': ['first', 'second'],
          // Connection-scoped and hookq's own headers must never reach the target.
          connection: 'keep-alive, x-hop',
          'x-hop': 'hop-by-hop',
          'hookq-attempt': '99',
        });
      }
    }),
    ...tenantGroups.map(async (group) => {
      for (let n = 0; n < 20; n++) {
        // Not UTF-8 at all: hookq must store and forward opaque bytes.
        const body = Buffer.concat([
          Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]),
          randomBytes(24),
        ]);
        await send('tenants', group, n, body, {
          'content-type': 'application/octet-stream',
          'x-tenant': group,
          'x-custom': `value-${n}`,
        });
      }
    }),
  ];
  await Promise.all(streams);

  // A JSON pointer over a body that is not JSON falls back to the route name.
  const binary = Buffer.from([0x80, 0x81, 0xfe, 0xff, 0x00, 0x7b]);
  await send('orders', 'orders', 0, binary, { 'content-type': 'application/octet-stream' });

  // The same body again is a duplicate of the first: answered with its id, not delivered.
  const first = sent[0]!;
  const again = await post(`${ingressUrl}/${first.route}`, first.body, first.headers, agent);
  assert.equal(again.status, 200);
  assert.equal(again.json.duplicate, true);
  assert.equal(again.json.messageId, first.id);

  const total = 10 * 30 + 5 * 20 + 1;
  assert.equal(sent.length, total);
  await target.waitFor((received) => received.length >= total, 30_000);
  // Anything delivered twice would show up now.
  await delay(300);
  assert.equal(target.received.length, total, 'a message was delivered more than once');

  const byId = new Map(sent.map((message) => [message.id, message]));
  assert.equal(byId.size, total, 'ingress gave two messages the same id');
  const deliveries: Delivery[] = [];
  const seenIds = new Set<string>();
  const nextN = new Map<string, number>();
  for (const received of target.received) {
    const hq = hookqHeaders(received);
    const message = byId.get(hq.id);
    assert.ok(message, `the target got a message ingress never accepted: ${hq.id}`);
    assert.ok(!seenIds.has(hq.id), `${hq.id} delivered twice`);
    seenIds.add(hq.id);
    deliveries.push({ ...hq, at: received.at });

    assert.ok(received.body.equals(message.body), `body of ${hq.id} changed on the way`);
    assert.equal(hq.route, message.route);
    assert.equal(hq.group, message.group);
    assert.equal(hq.sequence, message.sequence);
    assert.equal(hq.attempt, 1);
    assert.match(hq.receivedAt, RFC3339);
    const receivedAt = Date.parse(hq.receivedAt);
    assert.ok(
      receivedAt >= message.from - 1 && receivedAt <= message.to + 1,
      `Hookq-Received-At ${hq.receivedAt} is not when ingress got the message`,
    );

    // Per group, the target must see the sender's counter go 0, 1, 2, ...
    const key = `${message.route}/${message.group}`;
    const expected = nextN.get(key) ?? 0;
    assert.equal(message.n, expected, `${key}: got message ${message.n}, expected ${expected}`);
    nextN.set(key, expected + 1);

    const names = received.rawHeaders.map(([name]) => name);
    for (const name of [
      'hookq-message-id',
      'hookq-group-id',
      'hookq-sequence',
      'hookq-attempt',
      'hookq-route',
      'hookq-received-at',
    ]) {
      assert.equal(names.filter((n) => n === name).length, 1, `${name} must appear once`);
    }
    assert.ok(!names.includes('x-hop'), 'a connection-scoped header was forwarded');
    assert.equal(received.headers.host, new URL(target.url).host);
    assert.equal(received.headers['content-length'], String(message.body.length));
    const original = received.rawHeaders.filter(([name]) => !name.startsWith('hookq-'));
    for (const [name, value] of Object.entries(message.headers)) {
      if (name === 'connection' || name === 'x-hop' || name.startsWith('hookq-')) continue;
      const values = Array.isArray(value) ? value : [value];
      assert.deepEqual(
        original.filter(([n]) => n === name).map(([, v]) => v),
        values,
        `header ${name} not forwarded as sent`,
      );
    }
  }
  assertFirstDeliveriesInOrder(deliveries);
  // The group taken from a non-ASCII JSON value survives the trip in Hookq-Group-Id.
  assert.ok(deliveries.some((d) => d.group === 'grüppe-9'));
  assert.ok(deliveries.some((d) => d.route === 'orders' && d.group === 'orders'));
});
