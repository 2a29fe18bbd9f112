import { createHash } from 'node:crypto';

/**
 * How a route derives the dedup id of a message.
 * `content`: SHA-256 of the body bytes (SQS content-based deduplication).
 * `header`: the value of a request header, e.g. a provider's delivery id.
 * `none`: every send is a new message.
 */
export type DedupRule = { by: 'content' } | { by: 'header'; header: string } | { by: 'none' };

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
      return value === undefined || value === '' ? null : `header:${value}`;
    }
    case 'none':
      return null;
  }
}
