/**
 * `notify`: where alerts go (src/alerts/). Set at the top level of the file for every
 * route, and on a route to replace it for that route, or to switch alerts off for it.
 *
 * A route's `notify` replaces the top-level one whole instead of merging key by key as
 * `defaults` do: its headers usually carry a credential meant for one receiver, and a
 * merge would send that credential to the route's other URL.
 */
import * as z from 'zod';
import { formatDuration } from '../core/units.js';
import {
  duration,
  field,
  httpUrl,
  Invalid,
  integer,
  isMapping,
  kindOf,
  offOr,
  parseHeaderName,
  section,
} from './fields.js';
import type { NotifyConfig } from './types.js';

/** Headers hookq writes itself, or that describe one connection: an alert cannot set them. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);

/** `{ Name: value }`; values are not repeated in messages, as they are usually tokens. */
const notifyHeaders = field((value): Array<[string, string]> | Invalid => {
  if (!isMapping(value)) {
    return new Invalid(
      `must be a mapping of header names to values, such as { Authorization: "Bearer \${TOKEN}" } (got ${kindOf(value)})`,
    );
  }
  const headers: Array<[string, string]> = [];
  for (const [key, item] of Object.entries(value)) {
    const name = parseHeaderName(key);
    if (name instanceof Invalid) return new Invalid(name.message, [key]);
    if (RESERVED_HEADERS.has(name)) return new Invalid('is set by hookq itself', [key]);
    if (headers.some(([seen]) => seen === name)) {
      return new Invalid('is given twice (header names are case-insensitive)', [key]);
    }
    if (typeof item !== 'string' || item === '') {
      return new Invalid(`must be non-empty text (got ${kindOf(item)})`, [key]);
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(item)) {
      return new Invalid('must not contain line breaks or other control characters', [key]);
    }
    headers.push([name, item]);
  }
  return headers;
});

/** Below this, reading every route's counts would keep the store busy for little gain. */
const MIN_CHECK_EVERY_MS = 100;

const checkEvery = duration({ positive: true, timer: true }).transform((ms, ctx) => {
  if (ms < MIN_CHECK_EVERY_MS) {
    ctx.addIssue({
      code: 'custom',
      message: `must be at least ${formatDuration(MIN_CHECK_EVERY_MS)} (got ${formatDuration(ms)})`,
    });
    return z.NEVER;
  }
  return ms;
});

export const DEFAULT_NOTIFY = { checkEveryMs: 10_000, timeoutMs: 5_000, retries: 3 };

/** The `notify` mapping, resolved with its defaults. */
export const notifySchema = section({
  url: httpUrl(),
  headers: notifyHeaders.optional(),
  checkEvery: checkEvery.optional(),
  timeout: duration({ positive: true, timer: true }).optional(),
  retries: integer(0, 10).optional(),
}).transform(
  (input): NotifyConfig => ({
    url: input.url,
    headers: input.headers ?? [],
    checkEveryMs: input.checkEvery ?? DEFAULT_NOTIFY.checkEveryMs,
    timeoutMs: input.timeout ?? DEFAULT_NOTIFY.timeoutMs,
    retries: input.retries ?? DEFAULT_NOTIFY.retries,
  }),
);

/** The top-level `notify`; an empty one (`notify:` with nothing under it) counts as left out. */
export const globalNotifySchema = z.preprocess(
  (input) => (input === null ? undefined : input),
  notifySchema.optional(),
);

/** A route's `notify`: `off`, or a whole `notify` mapping of its own. */
export const routeNotifyField = offOr(notifySchema, '{ url: https://alerts.example.com/hookq }');

/**
 * The `notify` a route ends up with: its own, else the top-level one; none under `off`.
 * A copy, so that no two routes share anything mutable.
 */
export function resolveNotify(
  own: NotifyConfig | 'off' | undefined,
  global: NotifyConfig | undefined,
): { notify?: NotifyConfig } {
  const chosen = own === 'off' ? undefined : (own ?? global);
  if (chosen === undefined) return {};
  return { notify: { ...chosen, headers: chosen.headers.map(([n, v]) => [n, v]) } };
}
