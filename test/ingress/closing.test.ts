/**
 * Closing ingress with connections open: idle ones close at once, a request still
 * arriving is cut after a short grace, and a request received in full is answered
 * however long its write takes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import type { EnqueueResult, Store } from '../../src/store/store.js';
import { delay, waitUntil } from '../helpers/async.js';
import { ordersIngress } from './http.js';

test('a close cuts slow senders after the grace and answers the request it is storing', async () => {
  // A store whose writes finish when the test says.
  const pending: Array<(result: EnqueueResult) => void> = [];
  const store = {
    enqueue: () => new Promise<EnqueueResult>((resolve) => pending.push(resolve)),
  } as unknown as Store;
  const { ingress } = ordersIngress(store, { closeGraceMs: 300 });
  const { port } = new URL(await ingress.listen({ host: '127.0.0.1', port: 0 }));
  const sockets: Socket[] = [];
  const open = async () => {
    const socket = connect(Number(port), '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const closed = once(socket, 'close').then(() => Date.now());
    return { socket, closed };
  };
  try {
    // Kept alive after an answer.
    const idle = await open();
    const answered = once(idle.socket, 'data');
    idle.socket.write('GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n');
    await answered;
    const slow = await open();
    slow.socket.write('POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n{');
    const stored = await open();
    const answer: Buffer[] = [];
    stored.socket.on('data', (chunk: Buffer) => answer.push(chunk));
    stored.socket.write('POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}');
    await waitUntil('the webhook is being stored', () => pending.length === 1);

    const closedAt = Date.now();
    const closing = ingress.close();
    assert.ok((await idle.closed) - closedAt < 200, 'the idle connection was not closed at once');
    assert.ok((await slow.closed) - closedAt >= 300, 'the slow sender was cut before the grace');
    // Well past the grace, the webhook being stored still waits for its answer.
    await delay(500);
    assert.ok(!stored.socket.destroyed);
    pending[0]!({ messageId: 'm1', sequence: 1, duplicate: false });
    await closing;
    await stored.closed;
    assert.match(Buffer.concat(answer).toString(), /^HTTP\/1\.1 200 [\s\S]*"messageId":"m1"/);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
});
