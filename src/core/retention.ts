import { formatDuration } from './units.js';

/**
 * How long a route keeps what it holds: queued messages until they become dead letters
 * ("expired"), dead letters and delivered messages until they are deleted.
 */
export interface RetentionPolicy {
  queuedMs: number;
  deadLetterMs: number;
  deliveredMs: number;
}

/** What a dead letter that outlived `retention.queued` is marked with. */
export function expiryReason(queuedMs: number): string {
  return `expired: queued longer than ${formatDuration(queuedMs)}`;
}
