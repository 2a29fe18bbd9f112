import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunningHookq, startHookq } from '../../src/app.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { configFor, tempDir } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import {
  type Answer,
  sample,
  send,
  sendRaw,
  storedMessage,
  storedMessages,
  withHookq,
} from './http.js';

// The ingress contract (SPEC §4, §2.5, §2.8) over real HTTP, against a real SQLite file.

/** Not valid UTF-8, with a NUL: any text round trip on the way to storage would show. */
const NON_UTF8 = Buffer.from([0xff, 0x00, 0xfe]);

function accepted(answer: Answer): { messageId: string; sequence: string } {
  assert.equal(answer.status, 200, answer.text);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(answer.json ?? {}).sort(), ['duplicate', 'messageId', 'sequence']);
  const { messageId, sequence, duplicate } = answer.json as Record<string, unknown>;
  assert.equal(typeof messageId, 'string');
  assert.ok((messageId as string).length > 0);
  assert.equal(typeof sequence, 'string', 'sequence is a decimal string');
  assert.match(sequence as string, /^[1-9][0-9]*$/);
  assert.equal(duplicate, false);
  return { messageId: messageId as string, sequence: sequence as string };
}

function refused(answer: Answer, status: number): string {
  assert.equal(answer.status, status, answer.text);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(answer.json ?? {}), ['error']);
  const error = answer.json?.error;
  assert.equal(typeof error, 'string');
  assert.ok((error as string).length > 0);
  return error as string;
}

const ORDERS = { name: 'orders', path: '/orders' };

describe('ingress: accepting a webhook', () => {
  test('answers 200 with the message id and a decimal sequence once the exact bytes and headers are stored', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      // Written byte for byte, so the stored list can be compared with what was sent.
      const head = [
        'POST /orders HTTP/1.1',
        'Host: provider.example',
        'Content-Type: application/octet-stream',
        'X-Custom: Mixed Case Value',
        'X-Tag: first',
        'X-Tag: second',
        'Content-Length: 3',
        'Connection: close',
      ];
      const answer = await sendRaw(
        hookq.ingressUrl,
        Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), NON_UTF8]),
      );
      const { messageId, sequence } = accepted(answer);

      const stored = await storedMessage(hookq, messageId);
      assert.deepEqual([...stored.body], [...NON_UTF8]);
      assert.equal(stored.route, 'orders');
      assert.equal(stored.sequence, Number(sequence));
      assert.equal(stored.group, 'orders', 'no group rule: the route name');
      assert.deepEqual(stored.headers, [
        ['host', 'provider.example'],
        ['content-type', 'application/octet-stream'],
        ['x-custom', 'Mixed Case Value'],
        ['x-tag', 'first'],
        ['x-tag', 'second'],
        ['content-length', '3'],
        ['connection', 'close'],
      ]);
    });
  });

  test('gives later messages of a route higher sequences', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      const sequences: number[] = [];
      for (const body of ['one', 'two', 'three']) {
        const answer = await send(`${hookq.ingressUrl}/orders`, { body: Buffer.from(body) });
        sequences.push(Number(accepted(answer).sequence));
      }
      assert.deepEqual(
        sequences,
        [...sequences].sort((a, b) => a - b),
      );
      assert.equal(new Set(sequences).size, 3);
      assert.equal((await storedMessages(hookq, 'orders')).length, 3);
    });
  });

  test('accepts a request with no body and no content type, storing an empty body', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      const answer = await sendRaw(
        hookq.ingressUrl,
        'POST /orders HTTP/1.1\r\nHost: provider.example\r\nConnection: close\r\n\r\n',
      );
      const { messageId } = accepted(answer);
      const stored = await storedMessage(hookq, messageId);
      assert.equal(stored.body.length, 0);
      assert.deepEqual(stored.headers, [
        ['host', 'provider.example'],
        ['connection', 'close'],
      ]);
    });
  });

  test('accepts a body sent without a content type', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      const answer = await sendRaw(
        hookq.ingressUrl,
        `POST /orders HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
      );
      const { messageId } = accepted(answer);
      assert.equal((await storedMessage(hookq, messageId)).body.toString(), 'hello');
    });
  });

  test('accepts a body whose Content-Type is not a media type, storing the header as sent', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      for (const type of ['json', '']) {
        const body = `sent as "${type}"`;
        const answer = await sendRaw(
          hookq.ingressUrl,
          `POST /orders HTTP/1.1\r\nHost: p\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
        const { messageId } = accepted(answer);
        const stored = await storedMessage(hookq, messageId);
        assert.equal(stored.body.toString(), body);
        assert.deepEqual(
          stored.headers.find(([name]) => name === 'content-type'),
          ['content-type', type],
        );
      }
    });
  });
});

describe('ingress: shutting down', () => {
  test('a request arriving on an open connection while hookq closes gets 503 with Retry-After and is not stored', async () => {
    const target = await TestTarget.start();
    const hookq = await startHookq(
      configFor(tempDir(), { routes: [{ ...ORDERS, target: target.url }] }),
    );
    const socket = connect(Number(new URL(hookq.ingressUrl).port), '127.0.0.1');
    try {
      await once(socket, 'connect');
      const received: Buffer[] = [];
      socket.on('data', (part: Buffer) => received.push(part));
      // The first request is half sent when the close begins, so its connection is busy
      // and stays open; the second arrives on it during the close.
      socket.write('POST /orders HTTP/1.1\r\nHost: p\r\nContent-Length: 10\r\n\r\nfirst');
      await sleep(100);
      const closing = hookq.close();
      await sleep(100);
      socket.write('-half' + 'POST /orders HTTP/1.1\r\nHost: p\r\nContent-Length: 6\r\n\r\nsecond');
      await once(socket, 'end');
      await closing;
      const responses = Buffer.concat(received)
        .toString('latin1')
        .split(/(?=HTTP\/1\.1 )/);
      assert.equal(responses.length, 2, responses.join('\n---\n'));
      assert.match(
        responses[0]!,
        /^HTTP\/1\.1 200/,
        'the request begun before the close is stored',
      );
      assert.match(responses[1]!, /^HTTP\/1\.1 503/);
      assert.match(responses[1]!, /\r\nretry-after: 5\r\n/i);
      assert.match(responses[1]!, /shutting down/);
      const reopened = SqliteStore.open(join(hookq.store.capabilities.location));
      try {
        const bodies = [];
        for (const item of (await reopened.listMessages({ limit: 10 })).items) {
          bodies.push((await reopened.getMessage(item.id))?.body.toString());
        }
        assert.deepEqual(bodies, ['first-half']);
      } finally {
        await reopened.close();
      }
    } finally {
      socket.destroy();
      await target.close();
    }
  });
});

describe('ingress: deduplication', () => {
  test('by content: a repeat is answered with the original id and duplicate: true, and stored once', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      const url = `${hookq.ingressUrl}/orders`;
      const first = accepted(await send(url, { body: NON_UTF8 }));
      const again = await send(url, { body: NON_UTF8, headers: { 'x-attempt': '2' } });
      assert.equal(again.status, 200);
      assert.deepEqual(again.json, { messageId: first.messageId, duplicate: true });

      const other = accepted(await send(url, { body: Buffer.from([0xff, 0x00, 0xfd]) }));
      assert.notEqual(other.messageId, first.messageId);

      const stored = await storedMessages(hookq, 'orders');
      assert.deepEqual(
        stored.map((m) => m.id),
        [first.messageId, other.messageId],
      );
    });
  });

  test('by header: the same delivery id is a duplicate whatever the body; another id is not', async () => {
    const route = { ...ORDERS, dedup: { by: 'header:X-Delivery-Id' } };
    await withHookq({ routes: [route] }, async (hookq) => {
      const url = `${hookq.ingressUrl}/orders`;
      const first = accepted(
        await send(url, { headers: { 'X-Delivery-Id': 'd-1' }, body: Buffer.from('a') }),
      );
      const repeat = await send(url, {
        headers: { 'x-delivery-id': 'd-1' },
        body: Buffer.from('a, re-rendered'),
      });
      assert.equal(repeat.status, 200);
      assert.deepEqual(repeat.json, { messageId: first.messageId, duplicate: true });

      const sameBodyOtherId = accepted(
        await send(url, { headers: { 'X-Delivery-Id': 'd-2' }, body: Buffer.from('a') }),
      );
      // Without the header there is nothing to compare: both are kept rather than guessed at.
      const bare1 = accepted(await send(url, { body: Buffer.from('no id') }));
      const bare2 = accepted(await send(url, { body: Buffer.from('no id') }));

      const stored = await storedMessages(hookq, 'orders');
      assert.deepEqual(
        stored.map((m) => m.id),
        [first.messageId, sameBodyOtherId.messageId, bare1.messageId, bare2.messageId],
      );
    });
  });
});

describe('ingress: refusals change nothing', () => {
  test('an unknown path gets 404 with a JSON error', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      for (const path of ['/nowhere', '/orders/extra', '/']) {
        const error = refused(await send(`${hookq.ingressUrl}${path}`, { body: NON_UTF8 }), 404);
        assert.match(error, new RegExp(path.replaceAll('/', '\\/')));
      }
      refused(await send(`${hookq.ingressUrl}/nowhere`, { method: 'GET' }), 404);
      assert.equal((await storedMessages(hookq, 'orders')).length, 0);
    });
  });

  test('another method on a route path gets 405 with Allow: POST', async () => {
    await withHookq({ routes: [ORDERS] }, async (hookq) => {
      const url = `${hookq.ingressUrl}/orders`;
      for (const [method, body] of [
        ['GET', undefined],
        ['PUT', NON_UTF8],
        ['DELETE', undefined],
        ['PATCH', NON_UTF8],
      ] as const) {
        const answer = await send(url, { method, body });
        const error = refused(answer, 405);
        assert.equal(answer.headers.allow, 'POST', `${method}: Allow header`);
        assert.match(error, new RegExp(method));
      }
      assert.equal((await storedMessages(hookq, 'orders')).length, 0);
    });
  });

  test('a body over maxBodyBytes announced by Content-Length gets 413; one at the limit is stored', async () => {
    await withHookq({ routes: [{ ...ORDERS, maxBodyBytes: 1024 }] }, async (hookq) => {
      const url = `${hookq.ingressUrl}/orders`;
      const error = refused(await send(url, { body: Buffer.alloc(1025, 0xff) }), 413);
      assert.match(error, /1024 bytes/);

      const atLimit = accepted(await send(url, { body: Buffer.alloc(1024, 0xfe) }));
      const stored = await storedMessages(hookq, 'orders');
      assert.deepEqual(
        stored.map((m) => m.id),
        [atLimit.messageId],
      );
      assert.equal((await storedMessage(hookq, atLimit.messageId)).body.length, 1024);
    });
  });

  test('a chunked body that streams past maxBodyBytes gets 413 before it ends, and nothing is stored', async () => {
    await withHookq({ routes: [{ ...ORDERS, maxBodyBytes: 1024 }] }, async (hookq) => {
      const count = 100;
      const answer = await send(`${hookq.ingressUrl}/orders`, {
        headers: { 'content-type': 'application/json' },
        chunks: { count, size: 256, gapMs: 10 },
      });
      refused(answer, 413);
      assert.ok(
        answer.chunksSent < count,
        `refused while the body was still streaming (after ${answer.chunksSent} of ${count} chunks)`,
      );
      assert.equal((await storedMessages(hookq, 'orders')).length, 0);
    });
  });
});

describe('ingress: grouping never rejects a webhook', () => {
  const routes = [
    { name: 'static', path: '/static', group: 'tenant-7' },
    { name: 'by-header', path: '/by-header', group: { header: 'X-Entity-Id' } },
    { name: 'by-json', path: '/by-json', group: { json: '/data/id' } },
  ];

  async function groupOf(url: string, hookq: RunningHookq, options: Parameters<typeof send>[1]) {
    const { messageId } = accepted(await send(url, options));
    return (await storedMessage(hookq, messageId)).group;
  }

  test('a static group id', async () => {
    await withHookq({ routes }, async (hookq) => {
      const url = `${hookq.ingressUrl}/static`;
      assert.equal(await groupOf(url, hookq, { body: NON_UTF8 }), 'tenant-7');
    });
  });

  test('a header, falling back to the route name when the header is missing', async () => {
    await withHookq({ routes }, async (hookq) => {
      const url = `${hookq.ingressUrl}/by-header`;
      const body = Buffer.from('{}');
      assert.equal(
        await groupOf(url, hookq, { headers: { 'x-entity-id': 'ent-1' }, body }),
        'ent-1',
      );
      assert.equal(await groupOf(url, hookq, { body: Buffer.from('{ }') }), 'by-header');
    });
  });

  test('a JSON pointer, falling back to the route name when the body is not JSON or lacks it', async () => {
    await withHookq({ routes }, async (hookq) => {
      const url = `${hookq.ingressUrl}/by-json`;
      const json = (value: unknown) => ({
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(value)),
      });
      assert.equal(await groupOf(url, hookq, json({ data: { id: 'acct_9' } })), 'acct_9');
      assert.equal(await groupOf(url, hookq, json({ data: { id: 42 } })), '42');
      assert.equal(
        await groupOf(url, hookq, {
          headers: { 'content-type': 'application/json' },
          body: NON_UTF8,
        }),
        'by-json',
      );
      assert.equal(await groupOf(url, hookq, json({ data: {} })), 'by-json');
      assert.equal(await groupOf(url, hookq, json([1, 2])), 'by-json');
      assert.equal((await storedMessages(hookq, 'by-json')).length, 5);
    });
  });
});

describe('ingress: metrics', () => {
  test('count accepted, duplicate and rejected webhooks by route and reason', async () => {
    const secret = 'metrics-secret';
    const signed = (body: Buffer) => ({
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    });
    const route = {
      name: 'shop',
      path: '/shop',
      maxBodyBytes: 1024,
      verify: { scheme: 'github', secret },
    };
    await withHookq({ routes: [route] }, async (hookq) => {
      const url = `${hookq.ingressUrl}/shop`;
      const a = Buffer.from('{"n":1}');
      const b = Buffer.from('{"n":2}');
      accepted(await send(url, { headers: signed(a), body: a }));
      accepted(await send(url, { headers: signed(b), body: b }));
      assert.equal((await send(url, { headers: signed(a), body: a })).json?.duplicate, true);
      refused(await send(url, { headers: signed(a), body: b }), 401);
      refused(await send(url, { body: b }), 401);
      refused(await send(url, { headers: signed(b), body: Buffer.alloc(2048) }), 413);
      refused(await send(url, { method: 'GET' }), 405);
      refused(await send(`${hookq.ingressUrl}/elsewhere`, { body: a }), 404);

      const text = await hookq.metrics.text();
      assert.equal(sample(text, 'hookq_messages_received_total{route="shop"}'), 2);
      assert.equal(sample(text, 'hookq_messages_duplicate_total{route="shop"}'), 1);
      const rejected = (labels: string) => sample(text, `hookq_messages_rejected_total{${labels}}`);
      assert.equal(rejected('route="shop",reason="signature"'), 2);
      assert.equal(rejected('route="shop",reason="too_large"'), 1);
      assert.equal(rejected('route="shop",reason="method"'), 1);
      assert.equal(rejected('route="",reason="not_found"'), 1);
      assert.equal(rejected('route="shop",reason="storage_unavailable"'), 0);
      assert.equal((await storedMessages(hookq, 'shop')).length, 2);
    });
  });
});
