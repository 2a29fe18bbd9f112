import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { RouteConfig } from '../config/types.js';
import type { Activity } from '../core/activity.js';
import { dedupId } from '../core/dedup.js';
import { WebhookRefusedError } from '../core/errors.js';
import { resolveGroup } from '../core/group.js';
import type { HeaderList } from '../core/terms.js';
import type { Store } from '../store/store.js';
import { verifySignature } from './verify/index.js';

/** Why ingress turned a request away (label `reason` of hookq_messages_rejected_total). */
export type RejectReason =
  | 'signature'
  | 'too_large'
  | 'storage_unavailable'
  | 'unstorable'
  | 'method'
  | 'not_found';

/** What ingress reports of each webhook, for the metrics (the admin stage counts them). */
export interface IngressCounters {
  messageReceived(route: string): void;
  duplicateReceived(route: string): void;
  messageRejected(route: string, reason: RejectReason): void;
}

export interface IngressOptions {
  store: Store;
  routes: readonly RouteConfig[];
  log: Logger;
  metrics: IngressCounters;
  /** Told of each message accepted, for those following live. */
  activity?: Activity;
  now?: () => number;
  /** Whole request, headers and body, must arrive within this (slow clients are cut off). */
  requestTimeoutMs?: number;
  /** Request headers must arrive within this. */
  headersTimeoutMs?: number;
  /** On close, how long a request still arriving may take before its connection is cut. */
  closeGraceMs?: number;
  /** While storage refuses webhooks, how often the count of those refused is logged. */
  refusalLogIntervalMs?: number;
}

/** Seconds a sender is asked to wait before retrying when storage cannot take a write. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * On close, the time a sender still sending its request gets to finish it. Longer, and
 * a few thousand slow senders would hold up every stop; the ones cut send again.
 */
export const CLOSE_GRACE_MS = 3_000;

/** While storage refuses webhooks, how often the count of those refused is logged. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * The webhook receiver: one `POST <path>` per route. A 2xx is sent only after the
 * message is committed durably; anything that cannot be stored gets a 503 so that the
 * provider sends it again.
 */
export function createIngress(options: IngressOptions) {
  const now = options.now ?? Date.now;
  const app = Fastify({
    loggerInstance: options.log,
    // One log line per webhook would cost more than storing it; hookq logs outcomes.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    // Behind a load balancer, idle connections must outlive its own idle timeout.
    keepAliveTimeout: 65_000,
    // hookq answers requests that arrive while it closes itself (below), with Retry-After.
    return503OnClosing: false,
  });
  app.server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  const refusals = new Refusals(
    options.log,
    options.refusalLogIntervalMs ?? REFUSAL_LOG_INTERVAL_MS,
    now,
  );

  // Each open connection, with its latest request once that request's headers came.
  const connections = new Map<
    Socket,
    { request: IncomingMessage; response: ServerResponse } | undefined
  >();
  app.server.on('connection', (socket: Socket) => {
    connections.set(socket, undefined);
    socket.once('close', () => connections.delete(socket));
  });

  // While closing, requests on kept-alive connections are turned away with a 503 the
  // provider will retry, and the connection is closed so that shutdown can finish. Idle
  // connections are closed at once by the server; a request still arriving gets a short
  // grace, then its connection is cut (the sender sends again). A request received in
  // full is answered: it may be stored already, and cut off, it would be sent twice.
  let closing = false;
  let cutSlowSenders: NodeJS.Timeout | undefined;
  let closeIdle: NodeJS.Timeout | undefined;
  app.addHook('preClose', (done) => {
    closing = true;
    // An answer begun before the close leaves its connection kept alive once sent; the
    // server closes only the connections idle when the close begins.
    closeIdle = setInterval(() => app.server.closeIdleConnections(), 200);
    cutSlowSenders = setTimeout(() => {
      let sending = 0;
      let idle = 0;
      for (const [socket, exchange] of connections) {
        if (!exchange?.request.complete) sending++;
        else if (exchange.response.writableFinished) idle++;
        else continue; // being answered
        socket.destroy();
      }
      if (sending + idle > 0) {
        options.log.warn(
          { sending, idle, graceMs: options.closeGraceMs ?? CLOSE_GRACE_MS },
          'shutdown: cut the connections still open; senders cut off mid-request will send again',
        );
      }
    }, options.closeGraceMs ?? CLOSE_GRACE_MS);
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    clearInterval(closeIdle);
    clearTimeout(cutSlowSenders);
    refusals.stop();
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (connections.has(request.raw.socket)) {
      connections.set(request.raw.socket, { request: request.raw, response: reply.raw });
    }
    if (closing) {
      reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .header('connection', 'close')
        .send({ error: 'hookq is shutting down; the webhook was not stored, send it again later' });
      return;
    }
    // Any body is accepted, whatever it claims to be. A Content-Type that is not a media
    // type would make the HTTP layer refuse the request, so it is set aside here; the
    // stored and forwarded headers come from the raw header list and keep it as sent.
    const type = request.headers['content-type'];
    if (type !== undefined && !/^[^\s/;]+\/[^\s/;]+/.test(type.trim()))
      delete request.headers['content-type'];
    done();
  });

  // Bodies are opaque bytes, whatever their content type; nothing is parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const paths = new Set(options.routes.map((route) => route.path));

  for (const route of options.routes) {
    app.post(
      route.path,
      { bodyLimit: route.maxBodyBytes, config: { route: route.name } },
      (request, reply) => receive(route, request, reply),
    );
  }

  async function receive(route: RouteConfig, request: FastifyRequest, reply: FastifyReply) {
    const body = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
    const header = (name: string): string | undefined => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };

    if (route.verify) {
      const verdict = verifySignature(route.verify, header, body, now());
      if (!verdict.ok) {
        options.metrics.messageRejected(route.name, 'signature');
        request.log.warn(
          { route: route.name, reason: verdict.reason },
          'webhook refused: bad signature',
        );
        return reply.code(401).send({ error: `signature verification failed: ${verdict.reason}` });
      }
    }

    const group = resolveGroup(route.group, route.name, header, body);
    let result: Awaited<ReturnType<Store['enqueue']>>;
    try {
      result = await options.store.enqueue({
        route: route.name,
        group,
        dedupId: dedupId(route.dedup, header, body),
        dedupWindowMs: route.dedup.windowMs,
        headers: headerList(request.raw.rawHeaders),
        body,
      });
    } catch (error) {
      if (error instanceof WebhookRefusedError) {
        // Sending it again would fail the same way: a 4xx tells the provider so.
        options.metrics.messageRejected(route.name, 'unstorable');
        request.log.warn({ route: route.name, err: error }, 'webhook refused: it cannot be stored');
        return reply.code(422).send({ error: `the webhook cannot be stored: ${error.message}` });
      }
      options.metrics.messageRejected(route.name, 'storage_unavailable');
      refusals.refused(request, route.name, error);
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send({ error: 'storage is unavailable; the webhook was not stored, send it again later' });
    }

    refusals.stored();
    if (result.duplicate) {
      options.metrics.duplicateReceived(route.name);
      return reply.send({ messageId: result.messageId, duplicate: true });
    }
    options.metrics.messageReceived(route.name);
    if (options.activity?.followed) {
      options.activity.publish({
        type: 'accepted',
        at: now(),
        route: route.name,
        messageId: result.messageId,
        group,
        sequence: result.sequence,
      });
    }
    return reply.send({
      messageId: result.messageId,
      sequence: String(result.sequence),
      duplicate: false,
    });
  }

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (paths.has(path)) {
      // Before reject(): it sends the reply, and headers set after that are dropped.
      reply.header('allow', 'POST');
      reject(
        reply,
        'method',
        routeAt(path),
        405,
        `${request.method} is not allowed here; send webhooks with POST`,
      );
      return;
    }
    reject(reply, 'not_found', '', 404, `no route at ${path}`);
  });

  app.setErrorHandler(
    (error: { code?: string; statusCode?: number; message: string }, request, reply) => {
      const route = (request.routeOptions.config as { route?: string }).route ?? '';
      if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        const limit = options.routes.find((r) => r.name === route)?.maxBodyBytes;
        return reject(
          reply,
          'too_large',
          route,
          413,
          `the body is larger than this route accepts (${limit} bytes)`,
        );
      }
      const status =
        error.statusCode && error.statusCode >= 400 && error.statusCode < 500
          ? error.statusCode
          : 500;
      if (status === 500) request.log.error({ err: error, route }, 'ingress failed');
      return reply.code(status).send({ error: status === 500 ? 'internal error' : error.message });
    },
  );

  function routeAt(path: string): string {
    return options.routes.find((route) => route.path === path)?.name ?? '';
  }

  function reject(
    reply: FastifyReply,
    reason: RejectReason,
    route: string,
    status: number,
    message: string,
  ) {
    options.metrics.messageRejected(route, reason);
    return reply.code(status).send({ error: message });
  }

  return app;
}

/**
 * The log of webhooks refused because storage failed. An outage refuses every webhook
 * that arrives, tens of thousands a second: one line each would flood the log and cost
 * more than the refusals. So the first refusal is logged in full, then how many more
 * every interval while the outage lasts, and one line once a webhook is stored again.
 */
class Refusals {
  private outage:
    | {
        since: number;
        refused: number;
        unreported: number;
        lastError: unknown;
        timer: NodeJS.Timeout;
      }
    | undefined;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  refused(request: FastifyRequest, route: string, error: unknown): void {
    if (this.outage) {
      this.outage.refused++;
      this.outage.unreported++;
      this.outage.lastError = error;
      return;
    }
    request.log.error({ err: error, route }, 'webhook refused: storage failed');
    this.outage = {
      since: this.now(),
      refused: 1,
      unreported: 0,
      lastError: error,
      timer: setInterval(() => this.report(), this.intervalMs).unref(),
    };
  }

  /** A webhook was stored: an outage, if there was one, is over. */
  stored(): void {
    if (!this.outage) return;
    const { since, refused } = this.outage;
    this.stop();
    this.log.info(
      { refused, outageMs: this.now() - since },
      'storage works again: webhooks are stored',
    );
  }

  stop(): void {
    clearInterval(this.outage?.timer);
    this.outage = undefined;
  }

  private report(): void {
    const outage = this.outage;
    if (!outage || outage.unreported === 0) return;
    this.log.error(
      { refused: outage.unreported, outageMs: this.now() - outage.since, err: outage.lastError },
      'more webhooks refused: storage unavailable',
    );
    outage.unreported = 0;
  }
}

/** Node's raw header array ([name, value, name, value…]) as pairs, names lower-cased. */
function headerList(raw: readonly string[]): HeaderList {
  const headers: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) headers.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return headers;
}
