import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { isLoopback } from '../config/load-config.js';
import type { RouteConfig } from '../config/types.js';
import { Activity } from '../core/activity.js';
import { BadRequestError, ConflictError, httpStatusOf, NotFoundError } from '../core/errors.js';
import type { Message, MessageDetail } from '../core/terms.js';
import { cursorAfter, decodeCursor, encodeCursor } from '../store/cursor.js';
import { type RedriveSelector, routeState, type Store } from '../store/store.js';
import { webConsole } from './console/serve.js';
import { EventStreams } from './event-stream.js';
import type { Metrics } from './metrics.js';
import {
  BlockedGroupsQuery,
  CountMessagesQuery,
  EventsQuery,
  ListMessagesQuery,
  MessageIdParams,
  openApiDocument,
  RedriveBody,
  ReplayBody,
  RetryNowBody,
  RouteNameParams,
} from './schemas.js';

export interface AdminOptions {
  store: Store;
  routes: readonly RouteConfig[];
  metrics: Metrics;
  log: Logger;
  /** Told of a retry-now once the store has made its messages due, to deliver them now. */
  onRetryNow?: (route: string) => void;
  /** What happens to messages as it happens, for the event stream (none: it stays quiet). */
  activity?: Activity;
  /** Bearer token every /api call must carry; null: no token (loopback only). */
  token: string | null;
  /**
   * Origins besides the listener's own whose pages may call it: where a reverse proxy
   * serves the console (`https://hookq.example.com`), as `URL.origin` writes them.
   */
  allowedOrigins?: readonly string[];
  version: string;
  now?: () => number;
}

/** Dead letters moved per transaction: a huge redrive never becomes one giant transaction. */
export const REDRIVE_PAGE = 1000;

/**
 * The admin listener: the JSON API of SPEC §6, Prometheus metrics, health checks and
 * the web console (at `/`).
 * Every /api call needs `Authorization: Bearer <token>` when a token is configured.
 * Whatever a web page may have sent (a foreign Origin, a rebound Host) is refused first.
 */
export function createAdmin(options: AdminOptions) {
  const now = options.now ?? Date.now;
  const routes = new Map(options.routes.map((route) => [route.name, route]));
  const document = openApiDocument(options.version);
  const app = Fastify({
    loggerInstance: options.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
  });

  // Before the token check: a forged page is refused for what it is, token or not.
  const allowedOrigins = new Set(options.allowedOrigins);
  app.addHook('onRequest', (request, reply, done) => {
    const refused = fromWebPage(request, options.token === null, allowedOrigins);
    if (refused) {
      reply.code(refused.status).send({ error: refused.error });
      return;
    }
    done();
  });

  if (options.token !== null) {
    const expected = digest(options.token);
    app.addHook('onRequest', (request, reply, done) => {
      // The matched route, not only the raw URL: `/%61pi/...` and absolute-form targets
      // (`GET http://host/api/...`) reach the same handlers without starting with /api/.
      const route = request.routeOptions.url ?? '';
      if (!route.startsWith('/api/') && !request.url.startsWith('/api/')) return done();
      const header = request.headers.authorization ?? '';
      // RFC 7235: the scheme name is case-insensitive.
      const presented = /^bearer /i.test(header) ? header.slice('Bearer '.length) : '';
      // Digests have equal length, so the comparison takes the same time however
      // much of the token is right.
      if (!timingSafeEqual(digest(presented), expected)) {
        reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'missing or wrong bearer token' });
        return;
      }
      done();
    });
  }

  app.setErrorHandler((thrown: Error & { statusCode?: number; code?: string }, request, reply) => {
    const error = thrown instanceof ReplayStopped ? thrown.reason : thrown;
    // Fastify's own request errors (malformed JSON, wrong content type) are the client's.
    const status =
      error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : httpStatusOf(error);
    if (status >= 500) request.log.error({ err: error, url: request.url }, 'admin request failed');
    // A body that is not JSON at all has no field to name but itself.
    const unparsable =
      error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY';
    const field = error instanceof BadRequestError ? error.field : unparsable ? 'body' : undefined;
    reply.code(status).send({
      error: status === 500 ? 'internal error' : unparsable ? 'body: must be JSON' : error.message,
      ...(field ? { field } : {}),
      ...(thrown instanceof ReplayStopped ? thrown.progress : {}),
    });
  });

  app.get('/api/openapi.json', async () => document);

  app.get('/api/routes', async () => {
    const stats = await options.store.routeStats([...routes.keys()]);
    return {
      routes: stats.map((s) => {
        const route = routes.get(s.route)!;
        return {
          name: s.route,
          path: route.path,
          target: route.target,
          ordering: route.ordering,
          paused: s.paused,
          queued: s.queued,
          inflight: s.inflight,
          deadLetter: s.dead,
          delivered: s.delivered,
          blockedGroups: s.blockedGroups,
          staleGroupsDropped: options.metrics.staleGroupsDropped(s.route),
          oldestAgeSeconds:
            s.oldestWaitingAt === null ? 0 : Math.max(0, (now() - s.oldestWaitingAt) / 1000),
          state: routeState(s),
          lastDeadLetter:
            s.lastDeadLetter === null
              ? null
              : { at: iso(s.lastDeadLetter.at), error: s.lastDeadLetter.error },
          health: {
            state: s.health.state,
            since: s.health.since === null ? null : iso(s.health.since),
            lastError: s.health.state === 'down' ? s.health.lastError : null,
            nextProbeAt: s.health.nextProbeAt === null ? null : iso(s.health.nextProbeAt),
          },
        };
      }),
    };
  });

  app.get('/api/messages', async (request) => {
    const query = parse(ListMessagesQuery, request.query);
    if (query.route !== undefined) knownRoute(query.route);
    const page = await options.store.listMessages(query);
    return { items: page.items.map(summary), nextCursor: page.nextCursor };
  });

  app.get('/api/messages/count', async (request) => {
    const filter = parse(CountMessagesQuery, request.query);
    if (filter.route !== undefined) knownRoute(filter.route);
    return { count: await options.store.countMessages(filter) };
  });

  app.get('/api/messages/:id', async (request) =>
    detail(await found(parse(MessageIdParams, request.params).id)),
  );

  app.delete('/api/messages/:id', async (request) => {
    const { id } = parse(MessageIdParams, request.params);
    const discarded = await options.store.discard(id);
    if (!discarded) throw new NotFoundError(`no message ${id}`);
    options.metrics.deadLetterDiscarded(discarded.route);
    request.log.warn(
      {
        messageId: id,
        route: discarded.route,
        group: discarded.group,
        sequence: discarded.sequence,
      },
      'dead letter discarded by an operator',
    );
    return { discarded: summary(discarded) };
  });

  app.post('/api/messages/:id/replay', async (request) => {
    const { id } = parse(MessageIdParams, request.params);
    const copy = await options.store.replay(id);
    request.log.info({ messageId: copy.messageId, replayOf: id }, 'delivered message replayed');
    return { messageId: copy.messageId, sequence: String(copy.sequence) };
  });

  app.post('/api/replay', async (request) => {
    const { limit, cursor, ...filter } = parse(ReplayBody, request.body ?? {});
    knownRoute(filter.route);
    // The copies are delivered messages of the route too once they arrive: the walk is
    // bounded by when it began, carried in its cursor, or it could chase its own copies.
    const [after, until] =
      cursor === undefined
        ? [undefined, filter.until ?? now()]
        : decodeCursor(cursor, ['string', 'number'] as const);
    const page = await options.store.listMessages({
      ...filter,
      until,
      state: 'delivered',
      limit,
      cursor: after,
    });
    // In (route, sequence) order: each group's copies queue up in the order of their
    // originals. A store whose writes take effect in call order commits a slice of them
    // at once; on another, one may overtake the one before, so they go one at a time.
    const { store } = options;
    const slice = store.capabilities.writesInCallOrder ? REPLAYS_TOGETHER : 1;
    let replayed = 0;
    for (let start = 0; start < page.items.length; start += slice) {
      const copies = page.items.slice(start, start + slice);
      const results = await Promise.allSettled(copies.map((message) => store.replay(message.id)));
      const failed = results.findIndex((result) => result.status === 'rejected');
      if (failed !== -1) {
        // The walk ends at the first copy not made, and says how to go on from it: the
        // copies before it were made in order, and those after it in its slice failed
        // with it, since a slice shares one commit (on any other store a slice is one).
        replayed += failed;
        const last = page.items[start + failed - 1];
        const { reason } = results[failed] as PromiseRejectedResult;
        throw new ReplayStopped(reason instanceof Error ? reason : new Error(String(reason)), {
          replayed,
          nextCursor: last ? encodeCursor([cursorAfter(last), until]) : (cursor ?? null),
        });
      }
      replayed += copies.length;
    }
    request.log.info(
      { ...filter, replayed: page.items.length, more: page.nextCursor !== null },
      'delivered messages replayed',
    );
    return {
      replayed: page.items.length,
      nextCursor: page.nextCursor === null ? null : encodeCursor([page.nextCursor, until]),
    };
  });

  const streams = new EventStreams(options.activity ?? new Activity());
  // An open stream is never idle, so the listener would wait on it for ever at close.
  app.addHook('preClose', (done) => {
    streams.endAll();
    done();
  });
  app.get('/api/events', async (request, reply) => {
    const { route } = parse(EventsQuery, request.query);
    if (route !== undefined) knownRoute(route);
    streams.open(request, reply, route);
  });

  app.post('/api/redrive', async (request) => {
    const body = parse(RedriveBody, request.body ?? {});
    const selector: RedriveSelector =
      body.ids !== undefined
        ? { ids: body.ids }
        : body.route !== undefined
          ? { route: body.route, group: body.group }
          : { all: true };
    if ('route' in selector) knownRoute(selector.route);
    // Never more than were dead when the call came: messages redriven into a target that
    // still fails die again, and would otherwise keep the loop going.
    const wanted = Math.min(
      body.limit ?? Number.POSITIVE_INFINITY,
      'ids' in selector ? selector.ids.length : await options.store.countDead(selector),
    );
    let moved = 0;
    // Page by page: each page is one short transaction, and deliveries go on meanwhile.
    while (moved < wanted) {
      const page = Math.min(REDRIVE_PAGE, wanted - moved);
      const n = await options.store.redrive(selector, page);
      moved += n;
      if (n < page || 'ids' in selector) break;
    }
    const remaining = 'ids' in selector ? 0 : await options.store.countDead(selector);
    request.log.info({ selector: body, moved, remaining }, 'dead letters redriven');
    return { moved, remaining };
  });

  app.get('/api/groups/blocked', async (request) => {
    const query = parse(BlockedGroupsQuery, request.query);
    knownRoute(query.route);
    const page = await options.store.blockedGroups(query.route, query.limit, query.cursor);
    return {
      items: page.items.map((item) => ({
        route: item.route,
        group: item.group,
        heldBy: summary(item.heldBy),
        waiting: item.waiting,
        waitingCapped: item.waitingCapped,
      })),
      nextCursor: page.nextCursor,
    };
  });

  for (const paused of [true, false]) {
    app.post(`/api/routes/:name/${paused ? 'pause' : 'resume'}`, async (request) => {
      const { name } = parse(RouteNameParams, request.params);
      if (!routes.has(name)) throw new NotFoundError(`no route named ${name}`);
      await options.store.setPaused(name, paused);
      request.log.warn({ route: name, paused }, paused ? 'route paused' : 'route resumed');
      return { route: name, paused };
    });
  }

  app.post('/api/routes/:name/retry-now', async (request) => {
    const { name } = parse(RouteNameParams, request.params);
    if (!routes.has(name)) throw new NotFoundError(`no route named ${name}`);
    const only = parse(RetryNowBody, request.body ?? {});
    if (only.id !== undefined) {
      // A message that is not there, or not waiting on this route, is named as such
      // rather than answered "0 made due".
      const message = await options.store.getMessage(only.id);
      if (!message) throw new NotFoundError(`no message ${only.id}`);
      if (message.route !== name) {
        throw new NotFoundError(`message ${only.id} is on route ${message.route}, not ${name}`);
      }
      if (message.state !== 'queued') {
        throw new ConflictError(
          `message ${only.id} is ${message.state}; only a queued message waits to be retried`,
        );
      }
    }
    const due = await options.store.retryNow(name, only);
    options.onRetryNow?.(name);
    request.log.warn({ route: name, ...only, due }, 'retry now: waiting messages made due');
    return { route: name, due };
  });

  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', options.metrics.contentType);
    return options.metrics.text();
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    try {
      await options.store.ping();
      return { status: 'ready' };
    } catch (error) {
      reply.code(503);
      return {
        status: 'unavailable',
        error: error instanceof Error ? error.message : String(error),
      };
    }
  });

  app.register(webConsole);

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]!;
    // An endpoint asked with the wrong method is not missing: say which methods it takes.
    const allow = METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
    if (allow.length > 0) {
      reply
        .code(405)
        .header('allow', allow.join(', '))
        .send({
          error: `${request.method} is not allowed on ${path}; it takes ${allow.join(', ')}`,
        });
      return;
    }
    reply.code(404).send({ error: `no such endpoint: ${request.method} ${path}` });
  });

  /**
   * A route named in a request must be configured: a typo would otherwise look like an
   * empty queue. Messages of a route since removed stay reachable by id and unfiltered lists.
   */
  function knownRoute(name: string): void {
    if (!routes.has(name)) {
      throw new NotFoundError(`no route named ${name} (routes: ${[...routes.keys()].join(', ')})`);
    }
  }

  async function found(id: string): Promise<MessageDetail> {
    const message = await options.store.getMessage(id);
    if (!message) throw new NotFoundError(`no message ${id}`);
    return message;
  }

  return app;
}

/** Validate input against a schema; the first problem becomes a 400 naming its field. */
function parse<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // A problem with no path is the whole input's (a JSON list, nothing selected).
  const field = issue.path.join('.') || 'body';
  if (issue.code === 'unrecognized_keys')
    throw new BadRequestError(issue.keys[0]!, 'unknown field');
  throw new BadRequestError(field, issue.message);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Replays asked for together, where they commit together: a commit each rather than one
 * per message, and few enough that their bodies (up to a route's maxBodyBytes each) stay
 * a small share of memory.
 */
const REPLAYS_TOGETHER = 32;

/** A bulk replay ended by a copy it could not make: why, how many it made, where to go on. */
class ReplayStopped extends Error {
  constructor(
    readonly reason: Error & { statusCode?: number; code?: string },
    readonly progress: { replayed: number; nextCursor: string | null },
  ) {
    super(reason.message, { cause: reason });
  }
}

/** The methods an `Allow` header may name; HEAD is answered wherever GET is. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Why a request looks sent by a web page that must not drive or read this listener
 * (SPEC §6), or undefined. A page on another origin can send a body-less POST without
 * any preflight (CSRF), but its browser always names the page in `Origin` and a page
 * cannot forge that header. Scripts, curl and scrapers send no `Origin`.
 */
function fromWebPage(
  request: FastifyRequest,
  checkHost: boolean,
  allowedOrigins: ReadonlySet<string>,
): { status: number; error: string } | undefined {
  const host = request.headers.host;
  // DNS rebinding: a page whose own name now resolves to this machine is same-origin
  // with itself, so only Host shows the name it used. With a token the page cannot
  // authenticate, and a reverse proxy may pass on any name.
  if (checkHost && !isOwnHost(host, request.socket.localAddress)) {
    return {
      status: 421,
      error: `Host ${JSON.stringify(host ?? '')} refused: with no admin.token this listener answers only to localhost, 127.0.0.1, [::1] or its own address; set admin.token to reach it by another name`,
    };
  }
  const origin = request.headers.origin;
  if (origin !== undefined) {
    // The console's own calls carry the origin it was served from: scheme and Host as
    // this listener sees them. Behind a reverse proxy that is the proxy's, hence the list.
    const own = originOf(`${request.protocol}://${host ?? ''}`);
    const presented = originOf(origin);
    if (presented === undefined || (presented !== own && !allowedOrigins.has(presented))) {
      return {
        status: 403,
        error: `cross-origin request refused: Origin ${JSON.stringify(origin)} is not this listener's own (${own ?? 'no valid Host'}); list the origin a reverse proxy serves the console from in admin.allowedOrigins`,
      };
    }
  }
  // Belt and braces: a browser that leaves Origin out still says in Sec-Fetch-Site
  // whether a request came from another site.
  if (STATE_CHANGING.has(request.method) && request.headers['sec-fetch-site'] === 'cross-site') {
    return {
      status: 403,
      error: `cross-site request refused: ${request.method} with Sec-Fetch-Site: cross-site`,
    };
  }
  return undefined;
}

/**
 * An origin as browsers write it; undefined for `null` (sandboxed pages, files,
 * redirects across origins), which could be anyone, and for what is not an origin.
 */
function originOf(text: string): string | undefined {
  if (!URL.canParse(text)) return undefined;
  const { origin } = new URL(text);
  return origin === 'null' ? undefined : origin;
}

/**
 * Whether a Host header, with or without its port, names this machine: a loopback name
 * or the address the connection came in on. Without a token the configuration allows
 * only a loopback listen address, so the configured one is always among these.
 */
function isOwnHost(host: string | undefined, localAddress: string | undefined): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::\d*)?$/.exec(host ?? '');
  const name = match?.[1] ?? match?.[2];
  if (name === undefined) return false;
  // A dual-stack socket gives the local address of an IPv4 connection as ::ffff:a.b.c.d.
  return isLoopback(name) || name === localAddress?.replace(/^::ffff:(?=\d+\.)/, '');
}

const iso = (ms: number) => new Date(ms).toISOString();

export function summary(message: Message) {
  return {
    id: message.id,
    route: message.route,
    group: message.group,
    sequence: String(message.sequence),
    state: message.state,
    attempts: message.attempts,
    lastError: message.lastError,
    deadReason: message.deadReason,
    receivedAt: iso(message.receivedAt),
    enqueuedAt: iso(message.enqueuedAt),
    availableAt: iso(message.availableAt),
    finishedAt: message.finishedAt === null ? null : iso(message.finishedAt),
    redrives: message.redrives,
    replayOf: message.replayOf,
  };
}

function detail(message: MessageDetail) {
  const text = message.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(message.body);
  return {
    ...summary(message),
    headers: message.headers,
    body: isText ? text : message.body.toString('base64'),
    bodyEncoding: isText ? ('utf8' as const) : ('base64' as const),
    bodyBytes: message.body.length,
    history: message.history.map((attempt) => ({ ...attempt, startedAt: iso(attempt.startedAt) })),
  };
}
