import { z } from 'zod';
import { MESSAGE_STATES } from '../core/terms.js';
import { WAITING_COUNT_LIMIT } from '../store/store.js';
import { MAX_PAGE, MAX_REDRIVE_IDS } from './console/limits.js';

/**
 * The admin API's requests and answers, as zod schemas. Requests are validated with
 * them (a 400 names the field), and the OpenAPI document is generated from them, so the
 * document cannot drift from what the server accepts and answers.
 */

// The limits the console shares live in console/limits.js, which the browser loads too.
export { MAX_REDRIVE_IDS };

/** Delivered messages replayed per call of a bulk replay, unless the caller asks for fewer. */
export const REPLAY_PAGE = 500;

const limit = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(MAX_PAGE, `must be at most ${MAX_PAGE}`)
    .default(fallback);

/** A point in time as RFC 3339 text with its zone, read as epoch milliseconds. */
const instant = z
  .string()
  .refine((text) => RFC3339.test(text) && !Number.isNaN(Date.parse(text)), {
    message: 'must be an RFC 3339 time with a zone, e.g. 2026-12-01T09:30:00Z',
  })
  .transform((text) => Date.parse(text));
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Which messages; list, count and bulk replay read the same filters. */
const messageFilter = {
  route: z.string().min(1, 'must not be empty').optional(),
  state: z
    .enum(MESSAGE_STATES, { error: `must be one of ${MESSAGE_STATES.join(', ')}` })
    .optional(),
  group: z.string().min(1, 'must not be empty').optional(),
  since: instant.optional().describe('received at or after this time (RFC 3339)'),
  until: instant.optional().describe('received before this time (RFC 3339)'),
  error: z
    .string()
    .min(1, 'must not be empty')
    .max(500, 'must be at most 500 characters')
    .optional()
    .describe('text the last error or dead-letter reason holds, in any case'),
};

export const CountMessagesQuery = z.object(messageFilter).strict();

export const ListMessagesQuery = z
  .object({
    ...messageFilter,
    limit: limit(50),
    cursor: z.string().min(1, 'must not be empty').optional(),
  })
  .strict();

/** Bulk replay: delivered messages of a route, a page per call, in their original order. */
export const ReplayBody = z
  .object({
    route: z.string({ error: 'is required' }).min(1, 'must not be empty'),
    group: messageFilter.group,
    since: messageFilter.since,
    until: messageFilter.until,
    limit: limit(REPLAY_PAGE).describe('replay at most this many in this call'),
    cursor: z
      .string()
      .min(1, 'must not be empty')
      .optional()
      .describe('nextCursor of the previous call: go on after what it replayed'),
  })
  .strict();

export const EventsQuery = z
  .object({ route: z.string().min(1, 'must not be empty').optional() })
  .strict();

export const BlockedGroupsQuery = z
  .object({
    route: z.string({ error: 'is required' }).min(1, 'must not be empty'),
    limit: limit(50),
    cursor: z.string().min(1, 'must not be empty').optional(),
  })
  .strict();

export const MessageIdParams = z.object({ id: z.string().min(1) }).strict();
export const RouteNameParams = z.object({ name: z.string().min(1) }).strict();

export const RedriveBody = z
  .object({
    ids: z
      .array(z.string().min(1, 'must not hold empty ids'), {
        error: 'must be a list of message ids',
      })
      .min(1, 'must not be empty')
      .max(
        MAX_REDRIVE_IDS,
        `must hold at most ${MAX_REDRIVE_IDS} ids; redrive by route or group for more`,
      )
      .optional(),
    route: z.string({ error: 'must be a route name' }).min(1, 'must not be empty').optional(),
    group: z.string({ error: 'must be a group id' }).min(1, 'must not be empty').optional(),
    all: z.literal(true, { error: 'must be true when given' }).optional(),
    limit: z
      .number({ error: 'must be a whole number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .optional()
      .describe('Move at most this many, for callers that page and show progress; default: all.'),
  })
  .strict()
  .superRefine((body, context) => {
    // The most specific problem first: it is the one reported.
    if (
      body.ids !== undefined &&
      (body.route !== undefined || body.all !== undefined || body.group !== undefined)
    ) {
      context.addIssue({
        code: 'custom',
        path: ['ids'],
        message: 'cannot be combined with route, group or all',
      });
    }
    if (body.group !== undefined && body.route === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['group'],
        message: 'needs route: a group belongs to a route',
      });
    }
    const choices = [body.ids !== undefined, body.route !== undefined, body.all === true].filter(
      Boolean,
    ).length;
    if (choices === 0) {
      context.addIssue({
        code: 'custom',
        path: [],
        message: 'give ids, route (and optionally group), or all: true',
      });
    }
  });

const Time = z.string().describe('RFC 3339');

export const MessageSummary = z.object({
  id: z.string(),
  route: z.string(),
  group: z.string(),
  sequence: z.string().describe('decimal'),
  state: z.enum(MESSAGE_STATES),
  attempts: z.number().int().describe('attempts since acceptance or the last redrive'),
  lastError: z.string().nullable(),
  deadReason: z.string().nullable(),
  receivedAt: Time,
  enqueuedAt: Time,
  availableAt: Time,
  finishedAt: Time.nullable(),
  redrives: z.number().int(),
  replayOf: z.string().nullable(),
});

export const AttemptView = z.object({
  number: z.number().int(),
  startedAt: Time,
  durationMs: z.number(),
  outcome: z.enum(['delivered', 'http_error', 'timeout', 'network_error', 'lease_expired']),
  status: z.number().int().nullable(),
  responseExcerpt: z.string().nullable(),
  error: z.string().nullable(),
});

export const MessageView = MessageSummary.extend({
  headers: z.array(z.tuple([z.string(), z.string()])),
  body: z.string(),
  bodyEncoding: z.enum(['utf8', 'base64']).describe('utf8 when the bytes are valid UTF-8 text'),
  bodyBytes: z.number().int(),
  history: z.array(AttemptView),
});

export const TargetHealthView = z.object({
  state: z.enum(['up', 'down']).describe('down: the target is unavailable and only probes go out'),
  since: Time.nullable().describe('when the current state began; null if never down'),
  lastError: z.string().nullable().describe('the latest unavailable attempt, while down'),
  nextProbeAt: Time.nullable().describe('while down: when the next probe may start'),
});

export const RouteView = z.object({
  name: z.string(),
  path: z.string(),
  target: z.string(),
  ordering: z.enum(['strict', 'fifo']),
  paused: z.boolean(),
  queued: z.number().int(),
  inflight: z.number().int(),
  deadLetter: z.number().int(),
  delivered: z.number().int(),
  blockedGroups: z.number().int(),
  staleGroupsDropped: z
    .number()
    .int()
    .describe(
      'group rows this instance dropped since it started because they named no waiting message; their messages need an operator (the log names them)',
    ),
  oldestAgeSeconds: z
    .number()
    .describe('age of the oldest message waiting for delivery; 0 when none'),
  state: z
    .enum(['delivering', 'idle', 'paused', 'stuck'])
    .describe(
      'stuck: messages wait, but all of them behind blocked groups or a target that is down',
    ),
  health: TargetHealthView,
  lastDeadLetter: z
    .object({ at: Time, error: z.string().nullable() })
    .nullable()
    .describe("the route's newest dead letter: when it died and its last error"),
});

export const Routes = z.object({ routes: z.array(RouteView) });
export const MessagePage = z.object({
  items: z.array(MessageSummary),
  nextCursor: z.string().nullable(),
});
export const BlockedGroupPage = z.object({
  items: z.array(
    z.object({
      route: z.string(),
      group: z.string(),
      heldBy: MessageSummary,
      waiting: z
        .number()
        .int()
        .describe(
          `messages of the group queued behind heldBy; counted up to ${WAITING_COUNT_LIMIT}`,
        ),
      waitingCapped: z
        .boolean()
        .describe(`true when more than ${WAITING_COUNT_LIMIT} wait (waiting is then that limit)`),
    }),
  ),
  nextCursor: z.string().nullable(),
});
export const RedriveResult = z.object({
  moved: z.number().int(),
  remaining: z
    .number()
    .int()
    .describe('dead letters still matching route, group or all (0 for ids)'),
});
export const Discarded = z.object({ discarded: MessageSummary });
export const Replayed = z.object({ messageId: z.string(), sequence: z.string() });
export const MessageCount = z.object({ count: z.number().int() });
export const BulkReplayed = z.object({
  replayed: z.number().int().describe('copies enqueued by this call'),
  nextCursor: z
    .string()
    .nullable()
    .describe('pass it back to go on; null when every matching message was replayed'),
});
export const PauseState = z.object({ route: z.string(), paused: z.boolean() });
export const RetryNowBody = z
  .strictObject({
    group: z.string().min(1).optional().describe("only this group's waiting head"),
    id: z.string().min(1).optional().describe('only this message, if it heads its group'),
  })
  .refine((body) => body.group === undefined || body.id === undefined, {
    message: 'give group or id, not both',
    path: ['id'],
  });
export const RetryNowResult = z.object({
  route: z.string(),
  due: z.number().int().describe('waiting group heads made due now'),
});
export const ErrorBody = z.object({ error: z.string(), field: z.string().optional() });
export const ReplayStoppedBody = ErrorBody.extend({
  replayed: z
    .number()
    .int()
    .describe('copies this call made, in order, before the one that failed'),
  nextCursor: z
    .string()
    .nullable()
    .describe(
      'pass it back to go on from the message not copied, without copying the others again; null: call again as before',
    ),
});
export const Health = z.object({ status: z.string(), error: z.string().optional() });
export const OpenApi = z
  .object({
    openapi: z.string(),
    info: z.object({ title: z.string(), version: z.string() }).loose(),
    paths: z.record(z.string(), z.unknown()),
  })
  .loose();

interface Operation {
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, z.ZodType>;
  /** The health and metrics endpoints need no token. */
  open?: boolean;
  /** A success that is not JSON; errors are JSON all the same. */
  media?: 'text/plain' | 'text/event-stream';
}

/** Every operation of the admin API: the server registers these, and the document lists them. */
export const OPERATIONS: Record<string, Record<string, Operation>> = {
  '/api/openapi.json': {
    get: { summary: 'This document: the admin API in OpenAPI 3.1', responses: { 200: OpenApi } },
  },
  '/api/routes': {
    get: { summary: 'Routes with their queue counts', responses: { 200: Routes } },
  },
  '/api/messages': {
    get: {
      summary: 'A page of messages; state=dead is the dead-letter queue',
      query: ListMessagesQuery,
      responses: { 200: MessagePage, 400: ErrorBody, 404: ErrorBody },
    },
  },
  '/api/messages/count': {
    get: {
      summary: 'How many messages match the filters of the message list',
      query: CountMessagesQuery,
      responses: { 200: MessageCount, 400: ErrorBody, 404: ErrorBody },
    },
  },
  '/api/replay': {
    post: {
      summary:
        "Replay a route's delivered messages (optionally of a group and time range) as new messages, in their original order, a page per call",
      body: ReplayBody,
      responses: { 200: BulkReplayed, 400: ErrorBody, 404: ErrorBody, 503: ReplayStoppedBody },
    },
  },
  '/api/events': {
    get: {
      summary:
        'Server-sent events: each message accepted, and each attempt outcome, as this instance sees them',
      query: EventsQuery,
      responses: { 200: z.string(), 404: ErrorBody },
      media: 'text/event-stream',
    },
  },
  '/api/messages/{id}': {
    get: {
      summary: 'One message with headers, body and attempt history',
      params: MessageIdParams,
      responses: { 200: MessageView, 404: ErrorBody },
    },
    delete: {
      summary: 'Discard a dead letter (logged)',
      params: MessageIdParams,
      responses: { 200: Discarded, 404: ErrorBody, 409: ErrorBody },
    },
  },
  '/api/messages/{id}/replay': {
    post: {
      summary: 'Enqueue a copy of a delivered message as a new message',
      params: MessageIdParams,
      responses: { 200: Replayed, 404: ErrorBody, 409: ErrorBody },
    },
  },
  '/api/redrive': {
    post: {
      summary: 'Return dead letters to delivery, keeping their order',
      body: RedriveBody,
      responses: { 200: RedriveResult, 400: ErrorBody, 404: ErrorBody },
    },
  },
  '/api/groups/blocked': {
    get: {
      summary:
        'Groups held by a dead letter, with that message and how many wait behind it; oldest blocked first (by when the message was dead-lettered, then by group)',
      query: BlockedGroupsQuery,
      responses: { 200: BlockedGroupPage, 400: ErrorBody, 404: ErrorBody },
    },
  },
  '/api/routes/{name}/pause': {
    post: {
      summary: "Stop a route's deliveries; ingress keeps accepting",
      params: RouteNameParams,
      responses: { 200: PauseState, 404: ErrorBody },
    },
  },
  '/api/routes/{name}/resume': {
    post: {
      summary: "Restart a route's deliveries",
      params: RouteNameParams,
      responses: { 200: PauseState, 404: ErrorBody },
    },
  },
  '/api/routes/{name}/retry-now': {
    post: {
      summary:
        "Try now: make a route's waiting group heads due at once (and the next probe of a down target), charging no attempts",
      params: RouteNameParams,
      body: RetryNowBody,
      responses: { 200: RetryNowResult, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
  },
  '/healthz': { get: { summary: 'Liveness', responses: { 200: Health }, open: true } },
  '/readyz': {
    get: {
      summary: 'Readiness: storage reachable',
      responses: { 200: Health, 503: Health },
      open: true,
    },
  },
  '/metrics': {
    get: {
      summary: 'Prometheus metrics',
      responses: { 200: z.string() },
      open: true,
      media: 'text/plain',
    },
  },
};

/** The OpenAPI 3.1 document of the admin API. */
export function openApiDocument(version: string): Record<string, unknown> {
  const schema = (type: z.ZodType) => z.toJSONSchema(type, { io: 'input', unrepresentable: 'any' });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, methods] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = [
        ...Object.entries(operation.params?.shape ?? {}).map(([name, type]) => ({
          name,
          in: 'path',
          required: true,
          schema: schema(type as z.ZodType),
        })),
        ...Object.entries(operation.query?.shape ?? {}).map(([name, type]) => ({
          name,
          in: 'query',
          required: !(type as z.ZodType).safeParse(undefined).success,
          schema: schema(type as z.ZodType),
        })),
      ];
      paths[path][method] = {
        summary: operation.summary,
        ...(operation.open ? { security: [] } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(operation.body
          ? {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: schema(operation.body) } },
              },
            }
          : {}),
        responses: Object.fromEntries(
          // Every guarded call can be refused for its token.
          Object.entries({
            ...operation.responses,
            ...(operation.open ? {} : { 401: ErrorBody }),
          }).map(([status, type]) => [
            status,
            {
              description: status.startsWith('2') ? 'OK' : 'Error',
              content: {
                [(status.startsWith('2') && operation.media) || 'application/json']: {
                  schema: z.toJSONSchema(type, { io: 'output', unrepresentable: 'any' }),
                },
              },
            },
          ]),
        ),
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'hookq admin API', version },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
