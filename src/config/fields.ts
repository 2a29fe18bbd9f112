/**
 * The building blocks of the configuration schema: one zod schema per kind of value
 * (duration, size, listen address, header name, ...) and the mapping helpers.
 *
 * Every message is written for the person editing the YAML file: what is wrong, what is
 * expected, and the offending value — except for secrets and URLs, which may carry
 * credentials and are never repeated back.
 */
import { isIPv4, isIPv6 } from 'node:net';
import * as z from 'zod';
import { standardWebhooksKey } from '../core/standard-webhooks.js';
import { parseDuration, parseSize } from '../core/units.js';

/** A value that failed to parse. `path` points below the current key when the fault is deeper. */
export class Invalid {
  constructor(
    readonly message: string,
    readonly path: Array<string | number> = [],
  ) {}
}

/**
 * A schema for one value, parsed by a plain function. Zod supplies the path and collects
 * the problems; the function supplies a message fit for the person editing the file.
 */
export function field<T>(parse: (value: unknown) => T | Invalid) {
  return z.unknown().transform((value, ctx): T => {
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is required' });
      return z.NEVER;
    }
    if (value === null) {
      ctx.addIssue({ code: 'custom', message: 'has no value' });
      return z.NEVER;
    }
    const result = parse(value);
    if (result instanceof Invalid) {
      ctx.addIssue({ code: 'custom', message: result.message, path: result.path });
      return z.NEVER;
    }
    return result;
  });
}

/** What kind of value this is, without showing it (safe for secrets). */
export function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'boolean') return 'true/false';
  return `a ${typeof value}`;
}

/** The value as it appears in a message: short, quoted when it is text. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return kindOf(value);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// --- Mappings -------------------------------------------------------------------------

/** The message for a key that is not a setting here, with the closest known key as a hint. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const hint = closest(key, known);
  return `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; expected one of: ${known.join(', ')}`;
}

function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.ceil(key.length * 0.4)) + 1;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function mappingError(issue: { code: string; input?: unknown }): string | undefined {
  if (issue.code !== 'invalid_type') return undefined;
  return issue.input === undefined
    ? 'is required'
    : `must be a mapping (got ${kindOf(issue.input)})`;
}

/**
 * A mapping with exactly these keys. An unknown key is reported at its own path, so a
 * typo such as `retires` is named rather than silently ignored. `allowedKeys` narrows
 * the keys by the mapping's own content (a verify scheme takes only some of them).
 */
export function section<Shape extends z.ZodRawShape>(
  shape: Shape,
  allowedKeys?: (input: Record<string, unknown>) => { keys: string[]; why: string } | undefined,
) {
  const known = Object.keys(shape);
  return z.preprocess(
    (input, ctx) => {
      if (!isMapping(input)) return input;
      const narrowed = allowedKeys?.(input);
      for (const key of Object.keys(input)) {
        if (!known.includes(key)) {
          ctx.addIssue({ code: 'custom', path: [key], message: unknownKeyMessage(key, known) });
        } else if (narrowed && !narrowed.keys.includes(key)) {
          ctx.addIssue({ code: 'custom', path: [key], message: narrowed.why });
        }
      }
      return input;
    },
    z.object(shape, { error: mappingError }),
  );
}

/** A mapping that may be left out; an empty one (`defaults:` with nothing under it) counts as left out. */
export function optionalSection<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.preprocess((input) => (input === null ? undefined : input), section(shape).optional());
}

export function list<Item extends z.ZodType>(item: Item, what: string) {
  return z.array(item, {
    error: (issue) => {
      if (issue.code !== 'invalid_type') return undefined;
      return issue.input === undefined
        ? `is required: a list of ${what}`
        : `must be a list of ${what} (got ${kindOf(issue.input)})`;
    },
  });
}

// --- Scalars ----------------------------------------------------------------------------

export function text(options: { allowEmpty?: boolean } = {}) {
  return field((value) => {
    if (typeof value !== 'string') return new Invalid(`must be text (got ${kindOf(value)})`);
    if (value === '' && !options.allowEmpty) return new Invalid('must not be empty');
    return value;
  });
}

export function oneOf<const Choice extends string>(choices: readonly Choice[]) {
  return field((value): Choice | Invalid =>
    choices.includes(value as Choice)
      ? (value as Choice)
      : new Invalid(`must be one of ${choices.join(', ')} (got ${show(value)})`),
  );
}

/**
 * A YAML number. A string holding only a number is accepted too, because `${NAME}`
 * interpolation always produces strings.
 */
function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) {
    return Number(value);
  }
  return undefined;
}

export function integer(min: number, max?: number) {
  const expected = max === undefined ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  return field((value) => {
    const n = toNumber(value);
    if (n === undefined || !Number.isSafeInteger(n) || n < min || (max !== undefined && n > max)) {
      return new Invalid(`must be ${expected} (got ${show(value)})`);
    }
    return n;
  });
}

export function decimal(min: number, max?: number) {
  const expected = max === undefined ? `a number >= ${min}` : `a number from ${min} to ${max}`;
  return field((value) => {
    const n = toNumber(value);
    if (n === undefined || !Number.isFinite(n) || n < min || (max !== undefined && n > max)) {
      return new Invalid(`must be ${expected} (got ${show(value)})`);
    }
    return n;
  });
}

/**
 * Node.js timers hold at most about 24.8 days; a longer `setTimeout` fires after 1 ms,
 * which would turn a long timeout into none at all.
 */
const MAX_TIMER_MS = 24 * 86_400_000;

/** A duration string in milliseconds. `positive`: zero is refused. */
export function duration(options: { positive: boolean; timer?: boolean }) {
  return field((value) => {
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined) {
      const hint = typeof value === 'number' ? 'with a unit, ' : '';
      return new Invalid(
        `must be a duration ${hint}such as 500ms, 30s, 5m, 24h or 4d (got ${show(value)})`,
      );
    }
    if (options.positive && ms <= 0) {
      return new Invalid(`must be a duration greater than 0 (got ${show(value)})`);
    }
    if (options.timer && ms > MAX_TIMER_MS) {
      return new Invalid(`must be at most 24d (got ${show(value)})`);
    }
    return ms;
  });
}

/** A size in bytes: a number, or text such as `1MiB`. */
export function size() {
  return field((value) => {
    const bytes =
      typeof value === 'string' || typeof value === 'number' ? parseSize(value) : undefined;
    if (bytes === undefined) {
      return new Invalid(
        `must be a size in bytes or with a unit, such as 65536, 512KiB or 1MiB (got ${show(value)})`,
      );
    }
    if (bytes < 1) return new Invalid(`must be at least 1 byte (got ${show(value)})`);
    return bytes;
  });
}

// --- Network ---------------------------------------------------------------------------

export interface ListenAddress {
  host: string;
  port: number;
}

const HOSTNAME =
  /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/** `host:port`, or `[v6]:port`. The host comes back without brackets, as `server.listen` takes it. */
export function parseListen(value: unknown): ListenAddress | Invalid {
  const expected = 'must be "host:port", such as "127.0.0.1:8081" or "[::1]:8081"';
  if (typeof value !== 'string') return new Invalid(`${expected} (got ${show(value)})`);
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) {
    const hint = (value.match(/:/g)?.length ?? 0) > 1 ? '; an IPv6 address goes in brackets' : '';
    return new Invalid(`${expected}${hint} (got ${show(value)})`);
  }
  const [, v6, name, portText] = match;
  const port = Number(portText);
  if (port > 65535) return new Invalid(`port must be from 0 to 65535 (got ${show(value)})`);
  if (v6 !== undefined) {
    if (!isIPv6(v6)) return new Invalid(`${expected}; "${v6}" is not an IPv6 address`);
    return { host: v6, port };
  }
  const host = name ?? '';
  const numeric = /^[\d.]+$/.test(host);
  if (host === '' || (numeric ? !isIPv4(host) : !HOSTNAME.test(host))) {
    return new Invalid(`${expected}; ${show(host)} is not a host name or IP address`);
  }
  return { host, port };
}

/** RFC 9110 token: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A header name, lower-cased so that every later comparison is case-insensitive by construction. */
export function parseHeaderName(value: unknown): string | Invalid {
  if (typeof value !== 'string' || !HEADER_NAME.test(value)) {
    return new Invalid(`must be an HTTP header name such as X-Request-Id (got ${show(value)})`);
  }
  return value.toLowerCase();
}

export const headerName = () => field(parseHeaderName);

/** An http(s) URL. The value is not repeated in messages: it may carry credentials. */
export const httpUrl = () =>
  field((value) => {
    if (typeof value !== 'string') return new Invalid(`must be a URL (got ${kindOf(value)})`);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return new Invalid('must be an http:// or https:// URL, such as http://127.0.0.1:3000/hook');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return new Invalid(`must be an http:// or https:// URL, not ${url.protocol}`);
    }
    return value;
  });

// --- Secrets ------------------------------------------------------------------------------

/** A secret: non-empty text. Its value never appears in a message. */
export const secret = () =>
  field((value) => {
    if (typeof value !== 'string') return new Invalid(`must be text (got ${kindOf(value)})`);
    if (value === '') return new Invalid('must not be empty');
    return value;
  });

/**
 * Whether a secret has the Standard Webhooks form: `whsec_` and base64. The decoding is
 * the one the verifier and the signer use, so a secret accepted here works there.
 */
export function isStandardWebhooksSecret(value: string): boolean {
  return value.startsWith('whsec_') && standardWebhooksKey(value) !== null;
}

export const STANDARD_WEBHOOKS_SECRET_FORM =
  'must be a Standard Webhooks secret: "whsec_" followed by base64';

/** `forwardHeaders`: `all`, or a list of header names (lower-cased, each once). */
export const forwardHeadersField = field((value): 'all' | string[] | Invalid => {
  if (value === 'all') return 'all';
  if (!Array.isArray(value)) {
    return new Invalid(`must be all, or a list of header names (got ${show(value)})`);
  }
  const names: string[] = [];
  for (const [index, item] of value.entries()) {
    const name = parseHeaderName(item);
    if (name instanceof Invalid) return new Invalid(name.message, [index]);
    if (!names.includes(name)) names.push(name);
  }
  return names;
});

/**
 * `off`, or a mapping that `schema` reads, its problems reported at their own keys;
 * `example` shows such a mapping in the error for anything else.
 */
export function offOr<T extends z.ZodType>(schema: T, example: string) {
  return z.unknown().transform((value, ctx): 'off' | NonNullable<z.output<T>> => {
    if (value === 'off') return 'off';
    if (!isMapping(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `must be off, or a mapping such as ${example} (got ${show(value)})`,
      });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    // A mapping is never read as absent, whatever the schema allows.
    if (parsed.success) return parsed.data as NonNullable<z.output<T>>;
    for (const issue of parsed.error.issues) {
      ctx.addIssue({
        code: 'custom',
        path: issue.path as Array<string | number>,
        message: issue.message,
      });
    }
    return z.NEVER;
  });
}
