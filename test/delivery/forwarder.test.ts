import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import type { HeaderList } from '../../src/core/terms.js';
import {
  EXCERPT_BYTES,
  Forwarder,
  type ForwardMessage,
  type ForwardOptions,
  type ForwardResult,
} from '../../src/delivery/forwarder.js';
import { verifySignature } from '../../src/ingress/verify/index.js';
import { delay } from '../helpers/async.js';
import { type Behaviour, type Received, TestTarget } from '../helpers/target.js';

// The delivery request contract (SPEC §5) against a real HTTP target.

/** Not valid UTF-8, with a NUL: any text round trip on the way out would show. */
const BODY = Buffer.from([0x7b, 0xff, 0x00, 0xfe, 0x7d]);
const RECEIVED_AT = Date.UTC(2025, 5, 1, 12, 30, 15, 123);
const SIGNING_SECRET = `whsec_${Buffer.from('hookq forwarder test signing key').toString('base64')}`;

function message(overrides: Partial<ForwardMessage> = {}): ForwardMessage {
  return {
    id: '01J9Z7Q4V6W8X0Y2Z4A6B8C0D2',
    route: 'orders',
    group: 'acct-42',
    sequence: '17',
    attempt: 3,
    receivedAt: RECEIVED_AT,
    headers: [['content-type', 'application/octet-stream']],
    body: BODY,
    ...overrides,
  };
}

const forwarders: Forwarder[] = [];
const targets: TestTarget[] = [];
after(async () => {
  await Promise.all(forwarders.map((f) => f.close()));
  await Promise.all(targets.map((t) => t.close()));
});

/** A forwarder and a target for one test; both are closed when the file ends. */
async function setup(behaviour?: Behaviour) {
  const forwarder = new Forwarder();
  const target = await TestTarget.start(behaviour);
  forwarders.push(forwarder);
  targets.push(target);
  const options = (more: Partial<ForwardOptions> = {}): ForwardOptions => ({
    target: target.url,
    timeoutMs: 5_000,
    forwardHeaders: 'all',
    ...more,
  });
  return { forwarder, target, options };
}

/** The headers the target received, leaving out hookq's own and those its client sets. */
function fromSender(received: Received): Array<[string, string]> {
  return received.rawHeaders.filter(
    ([name]) =>
      !name.startsWith('hookq-') && !['host', 'connection', 'content-length'].includes(name),
  );
}

/** Every value the target received for a header, in order. */
function values(received: Received, name: string): string[] {
  return received.rawHeaders.filter(([n]) => n === name).map(([, v]) => v);
}

async function forwardOnce(
  msg: ForwardMessage,
  more: Partial<ForwardOptions> = {},
  behaviour?: Behaviour,
): Promise<Received & { targetHost: string }> {
  const { forwarder, target, options } = await setup(behaviour);
  const record = await forwarder.forward(msg, options(more));
  assert.equal(record.outcome, 'delivered', record.error ?? undefined);
  assert.equal(target.received.length, 1);
  return { ...target.received[0]!, targetHost: new URL(target.url).host };
}

describe('forwarder: the request', () => {
  test('POSTs the exact body bytes to the target path and query', async () => {
    const seen: Array<{ method?: string; url?: string; body: Buffer }> = [];
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({ method: request.method, url: request.url, body: Buffer.concat(chunks) });
        response.end('ok');
      });
    });
    const port = await listen(server);
    const forwarder = new Forwarder();
    try {
      const record = await forwarder.forward(message(), {
        target: `http://127.0.0.1:${port}/hooks/in?tenant=7&x=a%20b`,
        timeoutMs: 5_000,
        forwardHeaders: 'all',
      });
      assert.equal(record.outcome, 'delivered');
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.method, 'POST');
      assert.equal(seen[0]!.url, '/hooks/in?tenant=7&x=a%20b');
      assert.deepEqual([...seen[0]!.body], [...BODY]);
    } finally {
      await forwarder.close();
      server.closeAllConnections();
      server.close();
    }
  });

  test('forwards end-to-end headers in order, repeated ones too, and never hop-by-hop ones, Host or Content-Length', async () => {
    const headers: HeaderList = [
      ['host', 'provider.example'],
      ['content-type', 'application/json'],
      ['x-tag', 'first'],
      ['connection', 'keep-alive, X-Hop-Secret'],
      ['keep-alive', 'timeout=5'],
      ['x-hop-secret', 'per-connection'],
      ['proxy-authorization', 'Basic c2VjcmV0'],
      ['proxy-connection', 'keep-alive'],
      ['te', 'trailers'],
      ['trailer', 'x-checksum'],
      ['transfer-encoding', 'chunked'],
      ['upgrade', 'websocket'],
      ['expect', '100-continue'],
      ['content-length', '9999'],
      ['user-agent', 'Provider-Hookshot/1.0'],
      ['x-tag', 'second'],
    ];
    const received = await forwardOnce(message({ headers }));

    assert.deepEqual(fromSender(received), [
      ['content-type', 'application/json'],
      ['x-tag', 'first'],
      ['user-agent', 'Provider-Hookshot/1.0'],
      ['x-tag', 'second'],
    ]);
    // The client sets these for its own connection; the sender's values must not leak.
    assert.deepEqual(values(received, 'host'), [received.targetHost]);
    assert.deepEqual(values(received, 'content-length'), [String(BODY.length)]);
    assert.ok(!values(received, 'connection').some((v) => /x-hop-secret/i.test(v)));
    assert.deepEqual([...received.body], [...BODY]);
  });

  test('replaces a sender’s Hookq-* headers instead of adding to them', async () => {
    const headers: HeaderList = [
      ['hookq-message-id', 'forged-id'],
      ['hookq-attempt', '99'],
      ['hookq-route', 'admin'],
      ['hookq-internal', 'sneaky'],
      ['x-kept', 'yes'],
    ];
    const received = await forwardOnce(message({ headers }));
    assert.deepEqual(values(received, 'hookq-message-id'), ['01J9Z7Q4V6W8X0Y2Z4A6B8C0D2']);
    assert.deepEqual(values(received, 'hookq-attempt'), ['3']);
    assert.deepEqual(values(received, 'hookq-route'), ['orders']);
    assert.deepEqual(values(received, 'hookq-internal'), []);
    assert.deepEqual(values(received, 'x-kept'), ['yes']);
  });

  test('with a forwardHeaders list, passes on only those, and still never hop-by-hop ones', async () => {
    const headers: HeaderList = [
      ['content-type', 'application/json'],
      ['x-github-event', 'push'],
      ['x-github-delivery', 'd-1'],
      ['cookie', 'session=secret'],
      ['authorization', 'Bearer provider-token'],
      ['transfer-encoding', 'chunked'],
      ['host', 'provider.example'],
    ];
    const received = await forwardOnce(message({ headers }), {
      forwardHeaders: ['x-github-event', 'content-type', 'transfer-encoding', 'host'],
    });
    assert.deepEqual(fromSender(received), [
      ['content-type', 'application/json'],
      ['x-github-event', 'push'],
    ]);
    assert.equal(received.headers.host, received.targetHost);
    assert.equal(received.headers['transfer-encoding'], undefined);
  });

  test('adds the Hookq-* headers: message id, group, sequence, attempt, route, received at (RFC 3339)', async () => {
    const received = await forwardOnce(message());
    assert.deepEqual(
      received.rawHeaders.filter(([name]) => name.startsWith('hookq-')),
      [
        ['hookq-message-id', '01J9Z7Q4V6W8X0Y2Z4A6B8C0D2'],
        ['hookq-group-id', 'acct-42'],
        ['hookq-sequence', '17'],
        ['hookq-attempt', '3'],
        ['hookq-route', 'orders'],
        ['hookq-received-at', '2025-06-01T12:30:15.123Z'],
      ],
    );
    const at = String(received.headers['hookq-received-at']);
    assert.match(at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
    assert.equal(Date.parse(at), RECEIVED_AT);
  });

  test('percent-encodes group ids a header cannot carry as they are', async () => {
    for (const group of ['Zürich/東京 🚚', 'line\nbreak', 'tab\there']) {
      const received = await forwardOnce(message({ group }));
      const sent = String(received.headers['hookq-group-id']);
      assert.match(sent, /^[\x21-\x7e]*$/, `${JSON.stringify(group)} sent as visible ASCII`);
      assert.equal(decodeURIComponent(sent), group);
    }
    const plain = await forwardOnce(message({ group: 'tenant 7: eu-west' }));
    assert.equal(plain.headers['hookq-group-id'], 'tenant 7: eu-west');
  });
});

describe('forwarder: signing', () => {
  const senderSignature: HeaderList = [
    ['webhook-id', 'msg_from_provider'],
    ['webhook-timestamp', '1600000000'],
    ['webhook-signature', 'v1,cHJvdmlkZXIncyBvd24gc2lnbmF0dXJl'],
    ['x-kept', 'yes'],
  ];

  test('adds Standard Webhooks headers that verify, replacing the sender’s own', async () => {
    const before = Math.floor(Date.now() / 1000);
    const received = await forwardOnce(message({ headers: senderSignature }), {
      sign: { secret: SIGNING_SECRET },
    });
    const latest = Math.floor(Date.now() / 1000);

    assert.deepEqual(values(received, 'webhook-id'), ['01J9Z7Q4V6W8X0Y2Z4A6B8C0D2']);
    const [timestamp = ''] = values(received, 'webhook-timestamp');
    assert.ok(Number(timestamp) >= before && Number(timestamp) <= latest, timestamp);
    const [signature = ''] = values(received, 'webhook-signature');
    assert.equal(values(received, 'webhook-signature').length, 1);
    assert.deepEqual(values(received, 'x-kept'), ['yes']);

    // Computed from the published format, independently of hookq's signer.
    const key = Buffer.from(SIGNING_SECRET.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key)
      .update(`01J9Z7Q4V6W8X0Y2Z4A6B8C0D2.${timestamp}.`)
      .update(received.body)
      .digest('base64');
    assert.equal(signature, `v1,${expected}`);

    const lookup = (name: string) => received.headers[name] as string | undefined;
    assert.deepEqual(
      verifySignature(
        { scheme: 'standard-webhooks', secrets: [SIGNING_SECRET], toleranceMs: 5 * 60_000 },
        lookup,
        received.body,
        Date.now(),
      ),
      { ok: true },
    );
  });

  test('without sign, a sender’s webhook-* headers pass through untouched', async () => {
    const received = await forwardOnce(message({ headers: senderSignature }));
    for (const [name, value] of senderSignature) assert.deepEqual(values(received, name), [value]);
  });
});

describe('forwarder: outcomes', () => {
  test('any 2xx is delivered, with its status and the response excerpt', async () => {
    for (const status of [200, 202, 204, 299]) {
      const { forwarder, options } = await setup(() => ({ status, body: 'thanks' }));
      const record = await forwarder.forward(message(), options());
      assert.equal(record.outcome, 'delivered', `status ${status}`);
      assert.equal(record.status, status);
      assert.equal(record.error, null);
      assert.equal(record.responseExcerpt, status === 204 ? null : 'thanks');
      assert.ok(record.durationMs >= 0);
    }
  });

  test('an error status is an http_error with the status and the response excerpt', async () => {
    const { forwarder, options } = await setup(() => ({ status: 500, body: 'database is down' }));
    const startedAt = Date.now();
    const record = await forwarder.forward(message(), options());
    assert.equal(record.outcome, 'http_error');
    assert.equal(record.status, 500);
    assert.equal(record.responseExcerpt, 'database is down');
    assert.match(String(record.error), /500/);
    assert.ok(record.startedAt >= startedAt - 5 && record.startedAt <= Date.now());
  });

  test('a redirect is not followed: it is an http_error', async () => {
    const { forwarder, target, options } = await setup(() => ({ status: 302, body: 'moved' }));
    const record = await forwarder.forward(message(), options());
    assert.equal(record.outcome, 'http_error');
    assert.equal(record.status, 302);
    assert.equal(target.received.length, 1);
  });

  test('a target that never answers is a timeout within about the timeout', async () => {
    const { forwarder, options } = await setup(() => 'hang');
    const timeoutMs = 300;
    const started = performance.now();
    const record = await forwarder.forward(message(), options({ timeoutMs }));
    const elapsed = performance.now() - started;
    assert.equal(record.outcome, 'timeout');
    assert.equal(record.status, null);
    assert.match(String(record.error), /300ms/);
    assert.ok(elapsed >= timeoutMs - 20, `waited the timeout (${elapsed}ms)`);
    assert.ok(elapsed < timeoutMs + 2_000, `gave up in time (${elapsed}ms)`);
    assert.ok(record.durationMs < timeoutMs + 2_000);
  });

  test('a connect that hangs is a timeout within the timeout, and the request is never sent later', async () => {
    const host = await unreachableHost();
    const forwarder = new Forwarder();
    try {
      const timeoutMs = 300;
      const record = await forwarder.forward(message(), {
        target: host.url,
        timeoutMs,
        forwardHeaders: 'all',
      });
      assert.equal(record.outcome, 'timeout');
      assert.equal(record.error, 'no connection to the target within 300ms');
      // Not the agent's own 10 s connect timeout.
      assert.ok(record.durationMs < timeoutMs + 2_000, `gave up in time (${record.durationMs}ms)`);
      // The host starts answering: the connection still being made reaches it (the
      // kernel resends its SYN after a second), and nothing goes over it.
      host.answer();
      await delay(2_500);
      assert.equal(host.requests(), 0, 'the request was sent after its attempt had ended');
    } finally {
      await forwarder.close();
      await host.close();
    }
  });

  test("a connect slower than 10 s ends at its attempt's own timeout, not before", async () => {
    const host = await unreachableHost();
    const timeoutMs = 12_000;
    // As the service builds it: told the longest timeout of its routes.
    const forwarder = new Forwarder({ longestTimeoutMs: timeoutMs });
    try {
      const record = await forwarder.forward(message(), {
        target: host.url,
        timeoutMs,
        forwardHeaders: 'all',
      });
      assert.equal(record.error, `no connection to the target within ${timeoutMs}ms`);
      assert.equal(record.outcome, 'timeout');
      assert.ok(record.durationMs >= timeoutMs - 50, `waited its timeout (${record.durationMs}ms)`);
    } finally {
      await forwarder.close();
      await host.close();
    }
  });

  test("a 503's Retry-After comes back in milliseconds; a 500's is not read", async () => {
    for (const [status, expected] of [
      [503, 7_000],
      [429, 7_000],
      [500, undefined],
    ] as const) {
      const { forwarder, options } = await setup(() => ({
        status,
        headers: { 'retry-after': '7' },
      }));
      const record = await forwarder.forward(message(), options());
      assert.equal(record.outcome, 'http_error');
      assert.equal(record.retryAfterMs, expected, `status ${status}`);
    }
  });

  test('an informational answer (103 Early Hints) is not the outcome', async () => {
    // Then the answer, or a connection that drops before it.
    for (const [then, outcome, status] of [
      ['answer', 'delivered', 200],
      ['drop', 'network_error', null],
    ] as const) {
      const record = await forwardTo((request, response) => {
        request.resume();
        request.on('end', () => {
          response.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
          if (then === 'answer') response.end('done');
          else setTimeout(() => request.socket.destroy(), 20);
        });
      });
      assert.equal(record.outcome, outcome, then);
      assert.equal(record.status, status, then);
    }
  });

  test('a refused connection is a network_error with the error text', async () => {
    const { forwarder, target, options } = await setup();
    await target.down();
    const record = await forwarder.forward(message(), options());
    assert.equal(record.outcome, 'network_error');
    assert.equal(record.status, null);
    assert.match(String(record.error), /ECONNREFUSED/);
  });

  test('a connection reset before the answer is a network_error', async () => {
    const { forwarder, target, options } = await setup(() => 'reset');
    const record = await forwarder.forward(message(), options());
    assert.equal(record.outcome, 'network_error');
    assert.equal(record.status, null);
    assert.ok(String(record.error).length > 0);
    assert.notEqual(record.error, 'network_error');
    assert.equal(target.received.length, 1);
  });

  test('keeps at most 1 KiB of a large response', async () => {
    const large = 'x'.repeat(256 * 1024);
    const { forwarder, options } = await setup(() => ({ status: 500, body: large }));
    const record = await forwarder.forward(message(), options());
    assert.equal(record.outcome, 'http_error');
    assert.equal(EXCERPT_BYTES, 1024);
    assert.equal(record.responseExcerpt, large.slice(0, 1024));
  });

  test('keeps at most 1 KiB of a response of multi-byte characters, cut on a character boundary', async () => {
    // 3 bytes each: the 1024th byte falls inside a character.
    const euros = '€'.repeat(2000);
    const { forwarder, options } = await setup(() => ({ status: 400, body: euros }));
    const record = await forwarder.forward(message(), options());
    const excerpt = String(record.responseExcerpt);
    assert.ok(Buffer.byteLength(excerpt) <= 1024, `${Buffer.byteLength(excerpt)} bytes`);
    assert.equal(excerpt, '€'.repeat(341));
  });

  test('keeps at most 1 KiB of a binary response, as text', async () => {
    const record = await forwardTo((request, response) => {
      request.resume();
      request.on('end', () => {
        response.writeHead(500, { 'content-type': 'application/octet-stream' });
        response.end(Buffer.alloc(4096, 0xff));
      });
    });
    assert.equal(record.outcome, 'http_error');
    const excerpt = String(record.responseExcerpt);
    assert.ok(excerpt.length > 0);
    assert.ok(Buffer.byteLength(excerpt) <= 1024, `${Buffer.byteLength(excerpt)} bytes`);
  });
});

describe('forwarder: connections', () => {
  test('sequential forwards to one target reuse their connections, large responses included', async () => {
    const sockets = new Set<Socket>();
    let requests = 0;
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        requests++;
        // Far more than the excerpt keeps: the rest must still be read off the connection.
        response.end(requests % 2 ? 'ok' : 'x'.repeat(256 * 1024));
      });
    });
    server.on('connection', (socket: Socket) => sockets.add(socket));
    const port = await listen(server);
    const forwarder = new Forwarder();
    const forwards = 20;
    try {
      for (let i = 0; i < forwards; i++) {
        const record = await forwarder.forward(message({ sequence: String(i) }), {
          target: `http://127.0.0.1:${port}/webhook`,
          timeoutMs: 5_000,
          forwardHeaders: 'all',
        });
        assert.equal(record.outcome, 'delivered');
      }
      assert.equal(requests, forwards);
      // undici may open a second connection for a request sent in the same turn of the
      // event loop as the previous response ended, before that connection is back in the
      // pool; what must not happen is a connection per request.
      assert.ok(
        sockets.size <= 2,
        `${sockets.size} connections for ${forwards} sequential forwards`,
      );
    } finally {
      await forwarder.close();
      server.closeAllConnections();
      server.close();
    }
  });

  test('a forward that follows the last one a moment later uses the same connection', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    server.on('connection', (socket: Socket) => sockets.add(socket));
    const port = await listen(server);
    const forwarder = new Forwarder();
    try {
      for (let i = 0; i < 5; i++) {
        const record = await forwarder.forward(message({ sequence: String(i) }), {
          target: `http://127.0.0.1:${port}/webhook`,
          timeoutMs: 5_000,
          forwardHeaders: 'all',
        });
        assert.equal(record.outcome, 'delivered');
        // As in the dispatcher, where recording the outcome comes between two forwards.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(sockets.size, 1);
    } finally {
      await forwarder.close();
      server.closeAllConnections();
      server.close();
    }
  });
});

/** One forward, with a new forwarder, to a server answering with `listener`. */
async function forwardTo(listener: RequestListener): Promise<ForwardResult> {
  const server = createServer(listener);
  const port = await listen(server);
  const forwarder = new Forwarder();
  try {
    return await forwarder.forward(message(), {
      target: `http://127.0.0.1:${port}/webhook`,
      timeoutMs: 5_000,
      forwardHeaders: 'all',
    });
  } finally {
    await forwarder.close();
    server.closeAllConnections();
    server.close();
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/**
 * A host whose connects hang, as when it drops packets: an HTTP server on a thread
 * that is kept blocked, so it accepts nothing, with the kernel's queue of connections
 * waiting for it filled. Once told to answer, it serves and counts requests.
 */
async function unreachableHost() {
  const wake = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     let requests = 0;
     const server = require('node:http').createServer((request, response) => {
       requests++;
       parentPort.postMessage({ requests });
       request.resume();
       response.end('late');
     });
     parentPort.on('message', () => server.close(() => parentPort.close()));
     server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
       parentPort.postMessage({ port: server.address().port });
       // After the listening message is out: blocked, this thread accepts nothing.
       setTimeout(() => Atomics.wait(workerData, 0, 0, 60_000), 20);
     });`,
    { eval: true, workerData: wake },
  );
  let requests = 0;
  const port: number = await new Promise((resolve) =>
    worker.on('message', (seen: { port?: number; requests?: number }) => {
      if (seen.port) resolve(seen.port);
      if (seen.requests) requests = seen.requests;
    }),
  );
  await delay(100);
  // The kernel queues backlog + 1 connections for the server; one more never connects.
  const queued: Socket[] = [];
  for (;;) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    queued.push(socket);
    const connected = await Promise.race([
      once(socket, 'connect').then(() => true),
      delay(200).then(() => false),
    ]);
    if (!connected) break;
  }
  const answer = () => {
    Atomics.store(wake, 0, 1);
    Atomics.notify(wake, 0);
  };
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    answer,
    requests: () => requests,
    async close() {
      for (const socket of queued) socket.destroy();
      answer();
      worker.postMessage('close');
      await once(worker, 'exit');
    },
  };
}
