/**
 * The shape of `hookq.yaml` (SPEC §3) as a zod schema. Parsing converts each value to
 * its unit (milliseconds, bytes, lower-cased header names) but merges nothing: which
 * route inherits what from `defaults` is decided in route-settings.ts.
 */
import * as z from 'zod';
import type { DedupRule } from '../core/dedup.js';
import {
  type GroupRule,
  groupIdLength,
  MAX_GROUP_LENGTH,
  wellFormedGroupId,
} from '../core/group.js';
import { parseStorageUrl, type StorageLocation } from '../store/location.js';
import {
  decimal,
  duration,
  field,
  forwardHeadersField,
  headerName,
  httpUrl,
  Invalid,
  integer,
  isMapping,
  isStandardWebhooksSecret,
  kindOf,
  list,
  offOr,
  oneOf,
  optionalSection,
  parseHeaderName,
  parseListen,
  STANDARD_WEBHOOKS_SECRET_FORM,
  secret,
  section,
  show,
  size,
  text,
  unknownKeyMessage,
} from './fields.js';
import { globalNotifySchema, routeNotifyField } from './notify-settings.js';
import type { VerifyConfig, VerifyScheme } from './types.js';

// --- Route settings (the keys `defaults` may set) -------------------------------------------

const dedupBy = field((value): DedupRule | Invalid => {
  if (value === 'content' || value === 'none') return { by: value };
  const match = typeof value === 'string' ? /^header:\s*(.*)$/.exec(value) : null;
  if (match) {
    const name = parseHeaderName(match[1]!.trim());
    if (!(name instanceof Invalid)) return { by: 'header', header: name };
    return new Invalid(
      `header: must be followed by a header name, as in header:X-GitHub-Delivery (got ${show(value)})`,
    );
  }
  return new Invalid(`must be content, none or header:<Name> (got ${show(value)})`);
});

const breakerSection = section({
  after: integer(1, 1_000).optional(),
  probe: optionalSection({
    initial: duration({ positive: true, timer: true }).optional(),
    max: duration({ positive: true, timer: true }).optional(),
  }),
});

/** `breaker: off`, or its settings; `probe.max` below `probe.initial` is checked once merged. */
const breakerField = offOr(breakerSection, '{ after: 3, probe: { initial: 1s, max: 30s } }');

/** Zero is allowed here: a dedup window of 0 is fine with `by: none`, checked once merged. */
const dedupWindow = duration({ positive: false });
const positiveDuration = duration({ positive: true });

const settingsShape = {
  maxBodyBytes: size().optional(),
  ordering: oneOf(['strict', 'fifo']).optional(),
  dedup: optionalSection({
    by: dedupBy.optional(),
    window: dedupWindow.optional(),
  }),
  retry: optionalSection({
    maxAttempts: integer(1).optional(),
    backoff: optionalSection({
      initial: positiveDuration.optional(),
      max: positiveDuration.optional(),
      multiplier: decimal(1).optional(),
      jitter: decimal(0, 1).optional(),
    }),
  }),
  delivery: optionalSection({
    timeout: duration({ positive: true, timer: true }).optional(),
    maxConcurrency: integer(1, 10_000).optional(),
    maxPerSecond: decimal(0.001, 100_000).optional(),
    breaker: breakerField.optional(),
  }),
  retention: optionalSection({
    queued: positiveDuration.optional(),
    deadLetter: positiveDuration.optional(),
    delivered: positiveDuration.optional(),
  }),
  forwardHeaders: forwardHeadersField.optional(),
};

const defaultsSchema = optionalSection(settingsShape);

/** Route settings as written at one level (`defaults` or one route): every key optional. */
export type RouteSettingsInput = NonNullable<z.output<typeof defaultsSchema>>;

// --- Verification and signing ---------------------------------------------------------------

const SCHEMES = [
  'github',
  'stripe',
  'standard-webhooks',
  'shopify',
  'slack',
  'hmac-sha256',
] as const satisfies readonly VerifyScheme[];

/** The keys each scheme takes beyond `scheme`, `secret` and `secrets`. */
const SCHEME_KEYS: Record<VerifyScheme, readonly string[]> = {
  github: [],
  shopify: [],
  stripe: ['tolerance'],
  'standard-webhooks': ['tolerance'],
  slack: ['tolerance'],
  'hmac-sha256': ['header', 'encoding', 'prefix'],
};

const DEFAULT_TOLERANCE_MS = 5 * 60_000;

function isScheme(value: unknown): value is VerifyScheme {
  return typeof value === 'string' && Object.hasOwn(SCHEME_KEYS, value);
}

const verifySchema = section(
  {
    scheme: oneOf(SCHEMES),
    secret: secret().optional(),
    secrets: list(secret(), 'secrets')
      .min(1, { error: 'must list at least one secret' })
      .optional(),
    tolerance: positiveDuration.optional(),
    header: headerName().optional(),
    encoding: oneOf(['hex', 'base64']).optional(),
    prefix: text({ allowEmpty: true }).optional(),
  },
  (input) => {
    if (!isScheme(input.scheme)) return undefined;
    const keys = ['scheme', 'secret', 'secrets', ...SCHEME_KEYS[input.scheme]];
    return {
      keys,
      why: `is not a setting of scheme ${input.scheme}, which takes: ${keys.join(', ')}`,
    };
  },
).transform((input, ctx): VerifyConfig => {
  const fail = (path: Array<string | number>, message: string) => {
    ctx.addIssue({ code: 'custom', path, message });
    return z.NEVER;
  };
  if (input.secret !== undefined && input.secrets !== undefined) {
    return fail(['secrets'], 'give either secret or secrets (a list, for rotation), not both');
  }
  const secrets = input.secrets ?? (input.secret === undefined ? undefined : [input.secret]);
  if (secrets === undefined) {
    return fail(['secret'], 'is required: give secret, or secrets (a list, for rotation)');
  }
  const toleranceMs = input.tolerance ?? DEFAULT_TOLERANCE_MS;
  switch (input.scheme) {
    case 'github':
    case 'shopify':
      return { scheme: input.scheme, secrets };
    case 'stripe':
    case 'slack':
      return { scheme: input.scheme, secrets, toleranceMs };
    case 'standard-webhooks': {
      const bad = secrets.findIndex((value) => !isStandardWebhooksSecret(value));
      if (bad >= 0) {
        return fail(input.secrets ? ['secrets', bad] : ['secret'], STANDARD_WEBHOOKS_SECRET_FORM);
      }
      return { scheme: input.scheme, secrets, toleranceMs };
    }
    case 'hmac-sha256':
      if (input.header === undefined) {
        return fail(
          ['header'],
          'is required for scheme hmac-sha256: the header carrying the signature',
        );
      }
      return {
        scheme: input.scheme,
        secrets,
        header: input.header,
        encoding: input.encoding ?? 'hex',
        prefix: input.prefix ?? '',
      };
  }
});

/** Forwarded requests are signed the Standard Webhooks way, so the secret must have its form. */
const signSchema = section({ secret: secret() }).transform((input, ctx) => {
  if (!isStandardWebhooksSecret(input.secret)) {
    ctx.addIssue({ code: 'custom', path: ['secret'], message: STANDARD_WEBHOOKS_SECRET_FORM });
    return z.NEVER;
  }
  return { secret: input.secret };
});

// --- Routes -----------------------------------------------------------------------------------

const routeName = field((value) =>
  typeof value === 'string' && /^[A-Za-z0-9_.-]+$/.test(value)
    ? value
    : new Invalid(`must be made of letters, digits, "-", "_" and "." (got ${show(value)})`),
);

const routePath = field((value) => {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    return new Invalid(`must be a path starting with "/", such as /github (got ${show(value)})`);
  }
  if (/[?#]/.test(value)) {
    return new Invalid(`must be a path without a query string or fragment (got ${show(value)})`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u0020\u007f]/.test(value)) {
    return new Invalid(`must not contain spaces or control characters (got ${show(value)})`);
  }
  return value;
});

const GROUP_FORMS = 'must be a group id, { header: Name } or { json: /pointer }';

const group = field((value): GroupRule | Invalid => {
  if (typeof value === 'string') {
    if (value === '')
      return new Invalid('must not be empty; leave group out to group by route name');
    const length = groupIdLength(value);
    if (length > MAX_GROUP_LENGTH) {
      return new Invalid(`must be at most ${MAX_GROUP_LENGTH} characters (got ${length})`);
    }
    // Refused here rather than replaced at ingress, so that the id in the file is the id used.
    if (wellFormedGroupId(value) !== value) {
      return new Invalid(
        `must not contain control characters or unpaired surrogates (got ${show(value)})`,
      );
    }
    return { static: value };
  }
  if (!isMapping(value)) return new Invalid(`${GROUP_FORMS} (got ${kindOf(value)})`);
  const keys = Object.keys(value);
  const unknown = keys.find((key) => key !== 'header' && key !== 'json');
  if (unknown !== undefined)
    return new Invalid(unknownKeyMessage(unknown, ['header', 'json']), [unknown]);
  if (keys.length === 0) return new Invalid(`${GROUP_FORMS} (got an empty mapping)`);
  if (keys.length > 1) return new Invalid('must have either header or json, not both');
  if ('header' in value) {
    const name = parseHeaderName(value.header);
    return name instanceof Invalid ? new Invalid(name.message, ['header']) : { header: name };
  }
  const pointer = value.json;
  if (typeof pointer !== 'string' || (pointer !== '' && !pointer.startsWith('/'))) {
    return new Invalid(
      `must be a JSON Pointer: "" for the whole body, or starting with "/", such as /data/id (got ${show(pointer)})`,
      ['json'],
    );
  }
  return { json: pointer };
});

const routeSchema = section({
  name: routeName,
  path: routePath,
  target: httpUrl(),
  group: group.optional(),
  verify: verifySchema.optional(),
  sign: signSchema.optional(),
  notify: routeNotifyField.optional(),
  ...settingsShape,
});

// --- Server, admin, storage ---------------------------------------------------------------

/** Not repeated in messages: a postgres URL may carry a password. */
const storageUrl = field((value): StorageLocation | Invalid => {
  if (typeof value !== 'string') {
    return new Invalid(
      `must be sqlite:PATH (such as sqlite:./data/hookq.db) or a postgres:// URL (got ${kindOf(value)})`,
    );
  }
  const location = parseStorageUrl(value);
  return typeof location === 'string' ? new Invalid(location) : location;
});

const listen = field(parseListen);

/** A token of only whitespace could never be presented: HTTP drops it from header values. */
const adminToken = secret().refine((token) => token.trim() !== '', {
  error: 'must not be blank: no client could ever present it',
});

/**
 * An origin as a browser sends it in `Origin`: scheme, host and port only. Kept in the
 * form `URL.origin` writes (lower-case host, default port left out), which is how
 * browsers write it too.
 */
const origin = field((value): string | Invalid => {
  const expected = 'must be an origin such as https://hookq.example.com: scheme, host, port';
  if (typeof value !== 'string' || !URL.canParse(value)) {
    return new Invalid(`${expected} (got ${show(value)})`);
  }
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return new Invalid(`${expected}; ${url.protocol} is not http: or https: (got ${show(value)})`);
  }
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    return new Invalid(`${expected}, nothing after them (got ${show(value)})`);
  }
  return url.origin;
});

export const configFileSchema = section({
  server: optionalSection({ listen: listen.optional() }),
  admin: optionalSection({
    listen: listen.optional(),
    token: adminToken.optional(),
    allowedOrigins: list(origin, 'origins').optional(),
  }),
  storage: optionalSection({ url: storageUrl.optional() }),
  defaults: defaultsSchema,
  notify: globalNotifySchema,
  routes: list(routeSchema, 'routes').min(1, { error: 'must list at least one route' }),
});

export type ConfigFile = z.output<typeof configFileSchema>;
