/**
 * The Lambda forwarder's configuration, read from its environment once, at cold start.
 * A wrong value stops the function before it takes any message, with an error that names
 * the variable (and the key inside HOOKQ_ROUTES).
 *
 *   HOOKQ_ROUTES            required. JSON list of routes:
 *                           [{"name": "approvals", "target": "https://app.example.com/webhook",
 *                             "groups": ["approvals", "sss-*"], "timeout": "10s",
 *                             "forwardHeaders": ["content-type"]}]
 *                           `groups`, `timeout`, `forwardHeaders` and `verify` are optional.
 *                           `verify` is hookq.yaml's route `verify` section, checked by the
 *                           same rules: {"scheme": "github", "secret": "..."}.
 *   HOOKQ_TIMEOUT           request timeout for every route without its own; default 10s.
 *   HOOKQ_FORWARD_HEADERS   `all` (default) or a comma-separated list of header names.
 *   HOOKQ_SIGNING_SECRET    optional `whsec_` secret: sign forwarded requests (Standard Webhooks).
 *   HOOKQ_DEADLINE_MARGIN   time kept free before the Lambda's own timeout; default 1s.
 *   HOOKQ_MAX_RECEIVE_COUNT optional: the queue's maxReceiveCount, so logs can say which
 *                           failure sends a message to the dead-letter queue.
 *   HOOKQ_LOG_LEVEL         fatal, error, warn, info (default), debug, trace or silent.
 */
import * as z from 'zod';
import {
  field,
  forwardHeadersField,
  httpUrl,
  Invalid,
  isStandardWebhooksSecret,
  list,
  parseHeaderName,
  STANDARD_WEBHOOKS_SECRET_FORM,
  section,
  show,
} from '../config/fields.js';
import { formatKey } from '../config/problems.js';
import { configFileSchema } from '../config/schema.js';
import type { VerifyConfig } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import { parseDuration } from '../core/units.js';
import { ROUTE_NAME } from './wire.js';

/** The environment variables the forwarder reads. */
export const ENV = {
  routes: 'HOOKQ_ROUTES',
  timeout: 'HOOKQ_TIMEOUT',
  forwardHeaders: 'HOOKQ_FORWARD_HEADERS',
  signingSecret: 'HOOKQ_SIGNING_SECRET',
  deadlineMargin: 'HOOKQ_DEADLINE_MARGIN',
  maxReceiveCount: 'HOOKQ_MAX_RECEIVE_COUNT',
  logLevel: 'HOOKQ_LOG_LEVEL',
} as const;

export const LAMBDA_DEFAULTS = {
  timeoutMs: 10_000,
  forwardHeaders: 'all' as const,
  deadlineMarginMs: 1_000,
  logLevel: 'info' as LogLevel,
};

/** A Lambda invocation lasts at most 15 minutes, so no single request may take longer. */
const MAX_TIMEOUT_MS = 15 * 60_000;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LambdaRoute {
  name: string;
  /** http(s) URL the messages of this route are POSTed to. */
  target: string;
  /**
   * Message group ids sent here when a record carries no route attribute: exact ids, or
   * prefixes ending in `*` (`sss-*`). A group id equal to the route name always matches.
   */
  groups: string[];
  /** The whole request must fit in this. */
  timeoutMs: number;
  /** `all` carried headers, or only these (lower-case) names. */
  forwardHeaders: 'all' | string[];
  /**
   * Check the provider's signature before forwarding, as `hookq serve` does at ingress;
   * a message that fails is not forwarded and goes to the dead-letter queue.
   */
  verify: VerifyConfig | undefined;
}

export interface LambdaConfig {
  routes: LambdaRoute[];
  /** Sign forwarded requests with Standard Webhooks headers. */
  sign: { secret: string } | undefined;
  /** Stop starting requests this long before the Lambda's own timeout. */
  deadlineMarginMs: number;
  /** The queue's maxReceiveCount, when known: attempt N of it is the last. */
  maxReceiveCount: number | undefined;
  logLevel: LogLevel;
}

export interface Problem {
  key: string;
  message: string;
}

/** `base` followed by a key relative to it: `x.verify` and `secrets[0]` make `x.verify.secrets[0]`. */
export function subKey(base: string, key: string): string {
  if (key === '') return base;
  return key.startsWith('[') ? `${base}${key}` : `${base}.${key}`;
}

/** Read and check the whole configuration; throws one ConfigError listing every problem. */
export function loadLambdaConfig(env: Readonly<Record<string, string | undefined>>): LambdaConfig {
  const problems: Problem[] = [];
  const read = <T>(key: string, parse: (text: string) => T | Invalid, fallback: T): T => {
    const text = env[key];
    if (text === undefined || text.trim() === '') return fallback;
    const result = parse(text.trim());
    if (result instanceof Invalid) {
      problems.push({ key: `${key}${formatKey(result.path)}`, message: result.message });
      return fallback;
    }
    return result;
  };

  const timeoutMs = read(ENV.timeout, parseTimeout, LAMBDA_DEFAULTS.timeoutMs);
  const forwardHeaders = read<'all' | string[]>(
    ENV.forwardHeaders,
    parseHeaderList,
    LAMBDA_DEFAULTS.forwardHeaders,
  );
  const secret = read<string | undefined>(ENV.signingSecret, parseSecret, undefined);
  const deadlineMarginMs = read(
    ENV.deadlineMargin,
    (text) => parseDurationText(text, { allowZero: true }),
    LAMBDA_DEFAULTS.deadlineMarginMs,
  );
  const maxReceiveCount = read<number | undefined>(
    ENV.maxReceiveCount,
    parseReceiveCount,
    undefined,
  );
  const logLevel = read<LogLevel>(ENV.logLevel, parseLogLevel, LAMBDA_DEFAULTS.logLevel);

  let routes: LambdaRoute[] = [];
  const routesText = env[ENV.routes];
  if (routesText === undefined || routesText.trim() === '') {
    problems.push({
      key: ENV.routes,
      message: `is required: a JSON list of routes, such as ${ROUTES_EXAMPLE}`,
    });
  } else {
    routes = parseRoutes(routesText, { timeoutMs, forwardHeaders }, problems);
  }

  const [first, ...rest] = problems;
  if (first) {
    const lines = [first, ...rest].map((problem) => `${problem.key}: ${problem.message}`);
    throw new ConfigError(first.key, lines.join('\n'));
  }
  return {
    routes,
    sign: secret === undefined ? undefined : { secret },
    deadlineMarginMs,
    maxReceiveCount,
    logLevel,
  };
}

const ROUTES_EXAMPLE = '[{"name":"approvals","target":"https://app.example.com/webhook"}]';

function parseRoutes(
  text: string,
  defaults: { timeoutMs: number; forwardHeaders: 'all' | string[] },
  problems: Problem[],
): LambdaRoute[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? ` (${error.message})` : '';
    problems.push({
      key: ENV.routes,
      message: `is not valid JSON${detail}; expected a list such as ${ROUTES_EXAMPLE}`,
    });
    return [];
  }
  const parsed = routesSchema.safeParse(document);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push({ key: `${ENV.routes}${formatKey(issue.path)}`, message: issue.message });
    }
    return [];
  }
  if (parsed.data.length === 0) {
    problems.push({ key: ENV.routes, message: `must list at least one route: ${ROUTES_EXAMPLE}` });
  }
  const routes = parsed.data.map((route, index): LambdaRoute => {
    let verify: VerifyConfig | undefined;
    if (route.verify !== undefined) {
      const result = parseVerify(route.verify);
      if (Array.isArray(result)) {
        for (const problem of result) {
          problems.push({
            key: subKey(`${ENV.routes}[${index}].verify`, problem.key),
            message: problem.message,
          });
        }
      } else verify = result;
    }
    return {
      name: route.name,
      target: route.target,
      groups: route.groups ?? [],
      timeoutMs: route.timeout ?? defaults.timeoutMs,
      forwardHeaders: route.forwardHeaders ?? defaults.forwardHeaders,
      verify,
    };
  });
  // A name or group claimed twice would send messages to whichever route comes first.
  const owners = new Map<string, number>();
  for (const [index, route] of routes.entries()) {
    const previous = owners.get(`name:${route.name}`);
    if (previous !== undefined) {
      problems.push({
        key: `${ENV.routes}[${index}].name`,
        message: `"${route.name}" is also the name of route ${previous}; route names must be unique`,
      });
    }
    owners.set(`name:${route.name}`, index);
    for (const [position, group] of route.groups.entries()) {
      const owner = owners.get(`group:${group}`);
      if (owner !== undefined && owner !== index) {
        problems.push({
          key: `${ENV.routes}[${index}].groups[${position}]`,
          message: `${show(group)} is also listed by route ${owner}; a group goes to one route`,
        });
      }
      owners.set(`group:${group}`, index);
    }
  }
  return routes;
}

const routeName = field((value) =>
  typeof value === 'string' && ROUTE_NAME.test(value)
    ? value
    : new Invalid(`must be made of letters, digits, "-", "_" and "." (got ${show(value)})`),
);

/** An exact group id, or a prefix followed by a single trailing `*`. */
const groupPattern = field((value) => {
  if (typeof value !== 'string' || value === '' || value === '*') {
    return new Invalid(
      `must be a message group id, or a prefix ending in "*" such as "sss-*" (got ${show(value)})`,
    );
  }
  if (value.slice(0, -1).includes('*')) {
    return new Invalid(`may hold "*" only at its end, as a prefix match (got ${show(value)})`);
  }
  return value;
});

const timeoutField = field((value) =>
  typeof value === 'string'
    ? parseTimeout(value)
    : new Invalid(`must be a duration with a unit, such as "10s" (got ${show(value)})`),
);

const routesSchema = list(
  section({
    name: routeName,
    target: httpUrl(),
    groups: z.array(groupPattern).optional(),
    timeout: timeoutField.optional(),
    forwardHeaders: forwardHeadersField.optional(),
    verify: z.unknown().optional(),
  }),
  'routes',
);

/**
 * A route's `verify` section, read by the very schema that reads hookq.yaml, so that the
 * forwarder accepts exactly what `hookq serve` does (schemes, secrets, tolerance, the
 * keys each scheme takes). Problems come back with keys relative to the section.
 */
export function parseVerify(value: unknown): VerifyConfig | Problem[] {
  const parsed = configFileSchema.safeParse({
    routes: [{ name: 'verify', path: '/verify', target: 'http://127.0.0.1/', verify: value }],
  });
  if (parsed.success) {
    const verify = parsed.data.routes[0]?.verify;
    if (verify !== undefined) return verify;
    return [{ key: '', message: 'must be a mapping with a scheme and a secret' }];
  }
  return parsed.error.issues.map((issue) => {
    // The issue is about routes[0].verify (or below it): keep the part below.
    const below = issue.path.slice(3);
    return { key: formatKey(below), message: issue.message };
  });
}

function parseDurationText(text: string, options: { allowZero: boolean }): number | Invalid {
  const ms = parseDuration(text);
  if (ms === undefined) {
    return new Invalid(`must be a duration such as 500ms, 10s or 1m (got ${show(text)})`);
  }
  if (ms === 0 && !options.allowZero) {
    return new Invalid(`must be longer than 0 (got ${show(text)})`);
  }
  return ms;
}

function parseTimeout(text: string): number | Invalid {
  const ms = parseDurationText(text, { allowZero: false });
  if (typeof ms === 'number' && ms > MAX_TIMEOUT_MS) {
    return new Invalid(`must be at most 15m, the longest a Lambda runs (got ${show(text)})`);
  }
  return ms;
}

function parseHeaderList(text: string): 'all' | string[] | Invalid {
  if (text === 'all') return 'all';
  const names: string[] = [];
  for (const [index, item] of text.split(',').entries()) {
    const name = parseHeaderName(item.trim());
    if (name instanceof Invalid) {
      return new Invalid(`item ${index + 1}: ${name.message}; or set it to "all"`);
    }
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/** The secret itself never appears in a message. */
function parseSecret(text: string): string | Invalid {
  return isStandardWebhooksSecret(text)
    ? text
    : new Invalid(
        `${STANDARD_WEBHOOKS_SECRET_FORM}; generate one with: echo "whsec_$(openssl rand -base64 32)"`,
      );
}

function parseReceiveCount(text: string): number | Invalid {
  const n = Number(text);
  return /^\d+$/.test(text) && n >= 1 && n <= 1000
    ? n
    : new Invalid(
        `must be a whole number from 1 to 1000, as in the queue's redrive policy (got ${show(text)})`,
      );
}

function parseLogLevel(text: string): LogLevel | Invalid {
  return (LOG_LEVELS as readonly string[]).includes(text)
    ? (text as LogLevel)
    : new Invalid(`must be one of ${LOG_LEVELS.join(', ')} (got ${show(text)})`);
}
