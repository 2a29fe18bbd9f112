/**
 * How a route finds the message group of a webhook. Grouping never rejects a webhook:
 * whatever cannot be read falls back to the route name.
 */
export type GroupRule = { static: string } | { header: string } | { json: string };

/** Longest group id kept; longer values are cut so one sender cannot bloat every index. */
export const MAX_GROUP_LENGTH = 256;

export function resolveGroup(
  rule: GroupRule | undefined,
  routeName: string,
  header: (name: string) => string | undefined,
  body: Uint8Array,
): string {
  const found = readGroup(rule, header, body);
  return found === undefined || found === '' ? routeName : found.slice(0, MAX_GROUP_LENGTH);
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
