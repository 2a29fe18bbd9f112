import { createHash } from 'node:crypto';

/**
 * How a route derives the dedup id of a message.
 * `content`: SHA-256 of the body bytes (SQS content-based deduplication).
 * `header`: the value of a request header, e.g. a provider's delivery id.
 * `none`: every send is a new message.
 */
export type DedupRule = { by: 'content' } | { by: 'header'; header: string } | { by: 'none' };

/** Longest header value kept as it is in a dedup id. */
export const MAX_HEADER_DEDUP_ID = 200;

/**
 * The dedup id of a message, or null when it has none. A `header` rule whose header
 * is absent gives null: without the provider's id there is nothing to compare, and
 * dropping a webhook on a guess would lose data.
 */
export function dedupId(
  rule: DedupRule,
  header: (name: string) => string | undefined,
  body: Uint8Array,
): string | null {
  switch (rule.by) {
    case 'content':
      return `sha256:${createHash('sha256').update(body).digest('hex')}`;
    case 'header': {
      const value = header(rule.header.toLowerCase());
      if (value === undefined || value === '') return null;
      // A sender controls the value: a long one is kept as its hash, so that no database
      // refuses it as an index key (PostgreSQL's limit is about 2.7 KB).
      return value.length <= MAX_HEADER_DEDUP_ID
        ? `header:${value}`
        : `header-sha256:${createHash('sha256').update(value).digest('hex')}`;
    }
    case 'none':
      return null;
  }
}
