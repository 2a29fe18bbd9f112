import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { RouteConfig } from '../config/types.js';
import { BadRequestError, httpStatusOf, NotFoundError } from '../core/errors.js';
import type { Message, MessageDetail } from '../core/terms.js';
import type { RedriveSelector, Store } from '../store/store.js';
import { webConsole } from './console/serve.js';
import type { Metrics } from './metrics.js';
import {
  BlockedGroupsQuery,
  ListMessagesQuery,
  MessageIdParams,
  openApiDocument,
  RedriveBody,
  RouteNameParams,
} from './schemas.js';

export interface AdminOptions {
  store: Store;
  routes: readonly RouteConfig[];
  metrics: Metrics;
  log: Logger;
  /** Bearer token every /api call must carry; null: no token (loopback only). */
  token: string | null;
  version: string;
  now?: () => number;
}

/** Dead letters moved per transaction: a huge redrive never becomes one giant transaction. */
export const REDRIVE_PAGE = 1000;

/**
 * The admin listener: the JSON API of SPEC §6, Prometheus metrics, health checks and
 * the web console (at `/`).
 * Every /api call needs `Authorization: Bearer <token>` when a token is configured.
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

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
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
          oldestAgeSeconds:
            s.oldestWaitingAt === null ? 0 : Math.max(0, (now() - s.oldestWaitingAt) / 1000),
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
    reply
      .code(404)
      .send({ error: `no such endpoint: ${request.method} ${request.url.split('?')[0]}` });
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
