/**
 * The words of hookq, as the product specification uses them.
 *
 * route        one ingress endpoint (`POST <path>`) with its own target and settings.
 * message      one accepted webhook: the exact body bytes and request headers, plus
 *              the route, group, dedup id, sequence, state and attempt count.
 * group        the message group id. Messages of one group are delivered one at a
 *              time, in sequence order; groups proceed independently.
 * sequence     a number assigned at acceptance, strictly increasing within a route
 *              (and so within each of its groups).
 * dedup id     the key under which repeated sends are dropped within the dedup window.
 * attempt      one delivery try, recorded with its outcome, status, duration, a short
 *              response excerpt and the error.
 * lease        while an attempt runs, its message is in flight and its group is
 *              blocked. A lease that is never completed (crash) expires, and the
 *              message becomes available again.
 * dead letter  a message that exhausted its attempts or expired; it stays stored,
 *              visible and redrivable.
 * blocked group  in `strict` ordering, a group whose oldest undelivered message is a
 *              dead letter; later messages of the group wait behind it.
 * redrive      returning dead letters to delivery, keeping their original sequence.
 */

/** Where a message is in its life. `dead` is the dead-letter queue. */
export type MessageState = 'queued' | 'inflight' | 'delivered' | 'dead';

export const MESSAGE_STATES: readonly MessageState[] = ['queued', 'inflight', 'delivered', 'dead'];

/**
 * `strict`: a dead letter blocks its group until it is redriven or discarded.
 * `fifo`: SQS FIFO behaviour, a dead letter leaves the group and the next message goes on.
 */
export type Ordering = 'strict' | 'fifo';

/** How one attempt ended. `lease_expired`: hookq lost the outcome (crash or restart). */
export type AttemptOutcome =
  | 'delivered'
  | 'http_error'
  | 'timeout'
  | 'network_error'
  | 'lease_expired';

/** Request headers in arrival order, names lower-cased; repeated names stay repeated. */
export type HeaderList = Array<[name: string, value: string]>;

/** A message without its payload: what lists and counts deal in. Times are epoch milliseconds. */
export interface Message {
  id: string;
  route: string;
  group: string;
  sequence: number;
  dedupId: string | null;
  state: MessageState;
  /** Attempts since the message was accepted or last redriven. */
  attempts: number;
  /** When the webhook was first accepted. */
  receivedAt: number;
  /** When it last entered the queue: acceptance or redrive. Queue retention counts from here. */
  enqueuedAt: number;
  /** Earliest time of the next attempt while queued (retry backoff). */
  availableAt: number;
  leaseExpiresAt: number | null;
  /** When it was delivered or dead-lettered. */
  finishedAt: number | null;
  lastError: string | null;
  deadReason: string | null;
  redrives: number;
  /** For a replayed copy: the id of the delivered message it copies. */
  replayOf: string | null;
}

/** One recorded delivery try. `number` counts every attempt of the message, redrives included. */
export interface Attempt {
  number: number;
  startedAt: number;
  durationMs: number;
  outcome: AttemptOutcome;
  status: number | null;
  responseExcerpt: string | null;
  error: string | null;
}

/** A message with its payload and full attempt history. */
export interface MessageDetail extends Message {
  headers: HeaderList;
  body: Buffer;
  history: Attempt[];
}
