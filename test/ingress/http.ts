import { once } from 'node:events';
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, request } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Metrics } from '../../src/admin/metrics.js';
import { type RunningHookq, type StartOptions, startHookq } from '../../src/app.js';
import type { Message, MessageDetail } from '../../src/core/terms.js';
import { createIngress, type IngressOptions } from '../../src/ingress/server.js';
import type { Store } from '../../src/store/store.js';
import { configFor, tempDir } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';

/** What a sender gets back from ingress. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: Record<string, unknown> | undefined;
}

function answerOf(status: number, headers: IncomingHttpHeaders, body: Buffer): Answer {
  const text = body.toString('utf8');
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}

/**
 * One request on its own connection, as a provider sends it. A Buffer body goes with a
 * Content-Length; `chunks` go chunked, `gapMs` apart, and stop as soon as the answer
 * comes (a server that refuses a body mid-stream may close the connection on us).
 */
export function send(
  url: string,
  options: {
    method?: string;
    headers?: OutgoingHttpHeaders;
    body?: Buffer;
    chunks?: { count: number; size: number; gapMs: number };
  } = {},
): Promise<Answer & { chunksSent: number }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    let chunksSent = 0;
    const req = request(
      url,
      { method: options.method ?? 'POST', headers: options.headers, agent: false },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () =>
          resolve({
            ...answerOf(res.statusCode ?? 0, res.headers, Buffer.concat(parts)),
            chunksSent,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunks = options.chunks;
    if (!chunks) {
      req.end(options.body);
      return;
    }
    void (async () => {
      for (let i = 0; i < chunks.count && !answered && !req.destroyed; i++) {
        req.write(Buffer.alloc(chunks.size, 0x61));
        chunksSent++;
        await sleep(chunks.gapMs);
      }
      if (!answered && !req.destroyed) req.end();
    })();
  });
}

/**
 * Exactly these bytes on a fresh connection, for requests node:http would not send as
 * written (no Content-Length, no Content-Type, no body at all). They must carry
 * `Connection: close`.
 */
export async function sendRaw(url: string, bytes: string | Buffer): Promise<Answer> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (part: Buffer) => received.push(part));
  // Written, not ended: a client that half-closes may see its connection closed before
  // the answer. The requests say `Connection: close`, so the server ends it after answering.
  socket.write(bytes);
  await once(socket, 'end');
  socket.destroy();
  const response = Buffer.concat(received);
  const split = response.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = response.subarray(0, split).toString('latin1').split('\r\n');
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return answerOf(Number(statusLine.split(' ')[1]), headers, response.subarray(split + 4));
}

/**
 * hookq started in-process on a fresh SQLite file, with a TestTarget for routes that
 * name none (deliveries succeed and stay out of the way); both are closed after `body`
 * whatever happens.
 */
export async function withHookq(
  file: { routes: Array<Record<string, unknown>>; defaults?: unknown; storage?: unknown },
  body: (hookq: RunningHookq, target: TestTarget) => Promise<void>,
  options: StartOptions = {},
): Promise<void> {
  const target = await TestTarget.start();
  try {
    const routes = file.routes.map((route) => ({ target: target.url, ...route }));
    const hookq = await startHookq(configFor(tempDir(), { ...file, routes }), options);
    try {
      await body(hookq, target);
    } finally {
      await hookq.close();
    }
  } finally {
    await target.close();
  }
}

/**
 * Ingress alone, on a store the test stands in for, with one route, `orders`, whose target
 * is never called. It logs nothing unless `options.log` says otherwise.
 */
export function ordersIngress(
  store: Store,
  options: Partial<Omit<IngressOptions, 'store' | 'routes' | 'metrics'>> = {},
) {
  const routes = configFor(tempDir(), {
    routes: [{ name: 'orders', path: '/orders', target: 'http://127.0.0.1:9/' }],
  }).routes;
  const metrics = new Metrics(store, routes);
  const log = pino({ level: 'silent' });
  return { ingress: createIngress({ store, routes, log, metrics, ...options }), metrics };
}

/** Every message stored for a route, oldest first. */
export async function storedMessages(hookq: RunningHookq, route: string): Promise<Message[]> {
  return (await hookq.store.listMessages({ route, limit: 1000 })).items;
}

/** A stored message with its payload; fails when there is none. */
export async function storedMessage(hookq: RunningHookq, id: string): Promise<MessageDetail> {
  const message = await hookq.store.getMessage(id);
  if (!message) throw new Error(`message ${id} is not stored`);
  return message;
}

/** The value of one sample line of the Prometheus text, 0 when the series is absent. */
export function sample(metricsText: string, series: string): number {
  const line = metricsText.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
