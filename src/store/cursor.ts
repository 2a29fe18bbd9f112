import { BadRequestError } from '../core/errors.js';
import type { Message } from '../core/terms.js';

/**
 * Opaque page cursors: the sort key of the last item of a page, as base64url JSON.
 * Every backend pages the same way, so a cursor means the same thing everywhere.
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * The cursor of a `listMessages` page that ends with this message, so that the next page
 * starts right after it (every backend keys message pages by route and sequence).
 */
export function cursorAfter(message: Pick<Message, 'route' | 'sequence'>): string {
  return encodeCursor([message.route, message.sequence]);
}

/** The key in a cursor, checked against the expected element types. */
export function decodeCursor<T extends readonly ('string' | 'number')[]>(
  cursor: string,
  types: T,
): { [K in keyof T]: T[K] extends 'string' ? string : number } {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadRequestError('cursor', 'is not a cursor this server issued');
  }
  if (
    !Array.isArray(key) ||
    key.length !== types.length ||
    key.some((part, index) => typeof part !== types[index])
  ) {
    throw new BadRequestError('cursor', 'is not a cursor this server issued');
  }
  return key as { [K in keyof T]: T[K] extends 'string' ? string : number };
}

/**
 * A page of at most `limit` items from `rows`, which a query fetched with `limit + 1`:
 * the extra row only says that there is more, and the cursor points past the last item.
 */
export function pageOf<Row, Item>(
  rows: readonly Row[],
  limit: number,
  item: (row: Row) => Item,
  keyOf: (row: Row) => readonly (string | number)[],
): { items: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(item),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
