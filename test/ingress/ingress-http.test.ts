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
