/**
 * How a route finds the message group of a webhook. Grouping never rejects a webhook:
 * whatever cannot be read falls back to the route name.
 */
export type GroupRule = { static: string } | { header: string } | { json: string };

/**
 * Longest group id kept, in code points (as PostgreSQL's and SQLite's `length()` count
 * text): longer ids are cut so that one sender cannot bloat every index, and counting
 * code points means a cut never splits a surrogate pair.
 */
export const MAX_GROUP_LENGTH = 256;

/** Stands in for each character of a group id that storage cannot keep as text. */
export const GROUP_REPLACEMENT = '\uFFFD';

// With the `u` flag a surrogate range matches only unpaired surrogates: a pair is one
// code point there.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
const UNSTORABLE = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/gu;

export function resolveGroup(
  rule: GroupRule | undefined,
  routeName: string,
  header: (name: string) => string | undefined,
  body: Uint8Array,
): string {
  const found = readGroup(rule, header, body);
  const id = found === undefined ? '' : wellFormedGroupId(found);
  return id === '' ? routeName : id;
}

/**
 * A group id both stores keep and give back unchanged, whatever the sender put in:
 * unpaired surrogates (which SQLite would read back as U+FFFD, so later updates of
 * the group's row would miss it), NUL (which PostgreSQL refuses in text) and the other
 * C0 and C1 control characters and DEL (which have no business in ids, logs or
 * headers) each become U+FFFD, and the id is cut to MAX_GROUP_LENGTH code points.
 * Ids that differ only in such characters share a group: that only orders more.
 */
export function wellFormedGroupId(raw: string): string {
  return cutToLength(raw).replace(UNSTORABLE, GROUP_REPLACEMENT);
}

/** The length MAX_GROUP_LENGTH limits: code points, a surrogate pair counting as one. */
export function groupIdLength(id: string): number {
  let length = 0;
  for (const _ of id) length++;
  return length;
}

function cutToLength(id: string): string {
  // A string has no more code points than UTF-16 units.
  if (id.length <= MAX_GROUP_LENGTH) return id;
  let end = 0;
  let kept = 0;
  for (const character of id) {
    if (kept === MAX_GROUP_LENGTH) break;
    end += character.length;
    kept++;
  }
  return id.slice(0, end);
}

function readGroup(
  rule: GroupRule | undefined,
  header: (name: string) => string | undefined,
  body: Uint8Array,
): string | undefined {
  if (rule === undefined) return undefined;
  if ('static' in rule) return rule.static;
  if ('header' in rule) return header(rule.header.toLowerCase());
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return undefined;
  }
  const value = evaluatePointer(document, rule.json);
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

/** RFC 6901 JSON Pointer evaluation; undefined when any step is missing. */
export function evaluatePointer(document: unknown, pointer: string): unknown {
  if (pointer === '') return document;
  if (!pointer.startsWith('/')) return undefined;
  let current: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
      current = current[Number(token)];
    } else if (current !== null && typeof current === 'object' && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return current;
}
