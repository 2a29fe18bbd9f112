import type { BreakerPolicy, TargetEvent, TargetHealth } from '../core/outage.js';
import type { RetentionPolicy } from '../core/retention.js';
import type { AfterFailure } from '../core/retry.js';
import type {
  Attempt,
  HeaderList,
  Message,
  MessageDetail,
  MessageState,
  Ordering,
} from '../core/terms.js';
import type { Logger } from '../log.js';

/**
 * The Store keeps messages and moves them between states. Its methods are named after
 * the state change they make; every change is one transaction. It exposes no driver,
 * connection or transaction type: each backend owns its connections.
 *
 * Times are epoch milliseconds from the clock given at open, so tests can move time.
 */
export interface Store {
  readonly capabilities: StoreCapabilities;

  /**
   * Accept a message. Resolves only once the message is committed durably (fsync /
   * synchronous commit): the caller may then acknowledge it. Concurrent calls are
   * grouped into one commit. A dedup id seen on the route within its window gives
   * `duplicate: true` with the original message id, and stores nothing.
   */
  enqueue(message: NewMessage): Promise<EnqueueResult>;

  /**
   * Lease due messages of a route: only the head of each group that is neither in
   * flight nor blocked, never more than `maxConcurrency` in flight for the route, and
   * nothing while the route is paused. Oldest due first. While the route's target is
   * down, only one probe at a time, once its time has come; with `maxPerSecond`, starts
   * are spaced so that no second holds more than that many. Both hold across instances.
   */
  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]>;

  /** The attempt succeeded. False when the lease was lost (expired and taken over). */
  markDelivered(lease: LeaseRef, attempt: AttemptRecord): Promise<boolean>;

  /**
   * The attempt succeeded, and `started`, the first of the group's messages leased ahead
   * of it (ClaimedMessage.ahead), was sent the moment it did, before this outcome commits:
   * record the one, make the other the group's attempt in flight, and lease more ahead
   * where the route allows. Only stores that lease ahead have it. `ahead`: the messages
   * newly leased ahead, after those already leased; none when the lease of either was lost.
   */
  markDeliveredAndStarted?(
    lease: LeaseRef,
    attempt: AttemptRecord,
    started: LeaseRef,
    request: Pick<ClaimRequest, 'leaseMs' | 'maxConcurrency' | 'maxPerSecond'>,
  ): Promise<{ kept: boolean; ahead: ClaimedMessage[] }>;

  /** The attempt failed: retry at a time, or dead-letter. False when the lease was lost. */
  markFailed(lease: LeaseRef, attempt: AttemptRecord, next: AfterFailure): Promise<boolean>;

  /**
   * Apply an attempt's effect on the route's target health (`nextHealth` of the health
   * as stored), atomically: shared by the instances of a shared store. When the target
   * comes back up, every group held only by the outage becomes due at once. Returns the
   * health before and after.
   */
  updateTargetHealth(
    route: string,
    change: HealthChange,
  ): Promise<{ before: TargetHealth; after: TargetHealth }>;

  /** The route's target health as last recorded. */
  targetHealth(route: string): Promise<TargetHealth>;

  /** When a message of the route was last delivered; null if none is kept. */
  lastDeliveredAt(route: string): Promise<number | null>;

  /**
   * Make waiting group heads of a route due now ("try now"), without charging attempts:
   * all of them, one group's, or one message if it heads its group. While the target is
   * down, the next probe goes now too. Returns how many heads were made due.
   */
  retryNow(route: string, only?: { group?: string; id?: string }): Promise<number>;

  /** In-flight messages of a route whose lease ran out (their holder crashed or stalled). */
  expiredLeases(route: string, limit: number): Promise<ExpiredLease[]>;

  /**
   * Return dead letters to the queue, keeping their sequence; attempt counts start
   * again and the history is kept. Moves at most `limit` (default: all), so callers
   * can page through large dead-letter queues; returns how many moved.
   */
  redrive(selector: RedriveSelector, limit?: number): Promise<number>;

  /** How many dead letters a route, a group of a route, or all routes hold. */
  countDead(selector: { route: string; group?: string } | { all: true }): Promise<number>;

  /** Delete a dead letter for good. Null when there is no such message. */
  discard(id: string): Promise<Message | null>;

  /** Enqueue a copy of a delivered message as a new message (no dedup check). */
  replay(id: string): Promise<EnqueueResult & { duplicate: false }>;

  getMessage(id: string): Promise<MessageDetail | null>;

  /** Messages in (route, sequence) order, a page at a time. */
  listMessages(query: ListQuery): Promise<Page<Message>>;

  /** How many messages match, as listMessages would list them. */
  countMessages(filter: MessageFilter): Promise<number>;

  /** Counts per route for the routes named (also those with no messages yet). */
  routeStats(routes: readonly string[]): Promise<RouteStats[]>;

  /**
   * Groups of a route held by a dead letter (strict ordering), with that message and how
   * many wait behind it. Oldest blocked first: by when the holding message was
   * dead-lettered, then by group id.
   */
  blockedGroups(route: string, limit: number, cursor?: string): Promise<Page<BlockedGroup>>;

  /** Stop or restart deliveries of a route; ingress is not affected. Survives restarts. */
  setPaused(route: string, paused: boolean): Promise<void>;

  /**
   * Apply a route's retention: queued messages older than `queuedMs` become dead
   * letters ("expired"); dead letters and delivered messages older than their windows
   * are deleted. Works through at most `limit` messages of each kind per call.
   */
  sweep(route: string, retention: RetentionPolicy, limit: number): Promise<SweepResult>;

  /** When the earliest waiting head of a route becomes due; null when none waits. */
  nextDueAt(route: string): Promise<number | null>;

  /** When the earliest lease of a route runs out; null when nothing is in flight. */
  nextLeaseExpiry(route: string): Promise<number | null>;

  /** Whether the storage answers (readiness). */
  ping(): Promise<void>;

  /**
   * Be told when a route may have new work (an enqueue, redrive or resume), here or,
   * where the backend can, in another process. Returns the unsubscribe function.
   */
  onWork(listener: (route: string) => void): () => void;

  /**
   * Be told, before setPaused resolves, that a route of this process was paused: messages
   * leased ahead must not be sent after it. Only stores that lease ahead have it.
   */
  onPaused?(listener: (route: string, paused: boolean) => void): () => void;

  /**
   * Whether this process is the one, of those sharing the store, that does `role`'s work
   * (sending alerts): it takes the role when no live process holds it, and keeps it until
   * it closes the store or loses the storage. Rejects when the storage cannot be asked.
   */
  holdsRole(role: string): Promise<boolean>;

  close(): Promise<void>;
}

/** What differs between backends, in one place. */
export interface StoreCapabilities {
  /**
   * Whether delivery bookkeeping (claims, outcomes, target health) takes effect in the
   * order it was called, so that a claim called after an outcome sees that outcome.
   * Otherwise callers look again once it committed.
   */
  writesInCallOrder: boolean;
  /** Where the data lives, for messages (never contains a password). */
  location: string;
}

export interface StoreOptions {
  /** Ordering of each route; routes not listed use `strict`. */
  ordering?: Record<string, Ordering>;
  /** The clock, epoch milliseconds. */
  now?: () => number;
  /**
   * Where the store reports what an operator must act on at once (SQLite: its file
   * deleted or replaced while open). None: such problems reach the log only through
   * the errors of the calls they fail.
   */
  log?: Logger;
  /**
   * Told of a group row a claim could not lease and dropped, so that the route's other
   * groups go on: for the log and the metrics.
   */
  onStaleGroup?: (problem: StaleGroup) => void;
}

export interface StaleGroup {
  route: string;
  group: string;
  /** The message the row named as head, if it still exists. */
  messageId: string | null;
}

export interface NewMessage {
  route: string;
  group: string;
  /** Null: the message takes part in no deduplication. */
  dedupId: string | null;
  dedupWindowMs: number;
  headers: HeaderList;
  body: Uint8Array;
}

/** A message as a store writes it: a new one, or the copy that a replay makes. */
export interface QueuedMessage extends NewMessage {
  /** The delivered message this one replays. */
  replayOf?: string;
}

export type EnqueueResult =
  | { messageId: string; sequence: number; duplicate: false }
  | { messageId: string; duplicate: true };

export interface ClaimRequest {
  route: string;
  /** Most messages to lease in this call. */
  limit: number;
  /** Most messages of the route in flight at once, counting those already leased. */
  maxConcurrency: number;
  /** How long the lease lasts: the delivery timeout plus a margin. */
  leaseMs: number;
  /** Most attempts started per second for the route, on all instances; none: no limit. */
  maxPerSecond?: number;
  /**
   * Also lease each group's next messages ahead (ClaimedMessage.ahead), where the store
   * can and the route allows: it is up, not paused, not throttled, and has room under
   * `maxConcurrency`, which counts messages leased ahead as in flight.
   */
  lookAhead?: boolean;
}

/** A leased message, with what it takes to deliver it. */
export interface ClaimedMessage extends LeaseRef {
  route: string;
  group: string;
  sequence: number;
  /** This attempt's number since acceptance or the last redrive, 1-based. */
  attempt: number;
  receivedAt: number;
  headers: HeaderList;
  body: Buffer;
  /** Failed attempts so far that counted toward `maxAttempts` (SPEC §5a). */
  charged: number;
  /**
   * A delivery of another message of the route after this time makes an unavailable
   * attempt count: the end of the message's previous attempt, or when it was queued.
   */
  chargeSince: number;
  /** This attempt is the probe of a target that is down. */
  probe: boolean;
  /**
   * The group's next messages in order, leased ahead while this one is in flight
   * (ClaimRequest.lookAhead). Each may be sent the moment the one before it is delivered,
   * with markDeliveredAndStarted; any other outcome gives their leases back. After a crash
   * each counts one attempt, recorded as lost and not charged, since it may have been sent.
   */
  ahead?: ClaimedMessage[];
}

/** What an attempt tells of its route's target, under the route's breaker policy. */
export interface HealthChange {
  event: TargetEvent;
  /** Null: the breaker is off. */
  policy: BreakerPolicy | null;
  now: number;
}

export interface LeaseRef {
  messageId: string;
  /** Identifies one lease of the message; completions naming another lease are refused. */
  lease: number;
}

export interface ExpiredLease extends LeaseRef {
  route: string;
  group: string;
  /** The attempt number the lost lease had (see ClaimedMessage.attempt). */
  attempt: number;
  /** Charged failures before the lost attempt (see ClaimedMessage.charged). */
  charged: number;
  /** When the lost attempt started, for its history entry. */
  startedAt: number;
}

/** What an attempt did, as recorded in the message's history (which numbers it). */
export type AttemptRecord = Omit<Attempt, 'number'>;

/** Which dead letters to redrive. Exactly one of `ids`, `route` (optionally with `group`) or `all`. */
export type RedriveSelector =
  | { ids: readonly string[] }
  | { route: string; group?: string }
  | { all: true };

/** Which messages: each field given narrows the set. */
export interface MessageFilter {
  route?: string;
  state?: MessageState;
  group?: string;
  /** Received at or after this time (epoch ms). */
  since?: number;
  /** Received before this time (epoch ms). */
  until?: number;
  /** Text the last error or the dead-letter reason holds, in any case. */
  error?: string;
}

export interface ListQuery extends MessageFilter {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface RouteStats {
  route: string;
  paused: boolean;
  queued: number;
  inflight: number;
  dead: number;
  delivered: number;
  blockedGroups: number;
  /** Groups whose head is waiting to be claimed or in flight (not blocked). */
  activeGroups: number;
  health: TargetHealth;
  /**
   * When the oldest message still waiting for delivery (queued or in flight) entered
   * the queue; null when none waits.
   */
  oldestWaitingAt: number | null;
  /** The newest dead letter: when it died and why; null when the route has none. */
  lastDeadLetter: { at: number; error: string | null } | null;
}

/**
 * What a route is doing, in one word. `stuck`: messages wait, but nothing can move them
 * until someone acts or the target returns: every waiting group is blocked by a dead
 * letter, or the target is down.
 */
export function routeState(stats: RouteStats): 'delivering' | 'idle' | 'paused' | 'stuck' {
  if (stats.paused) return 'paused';
  if (stats.queued + stats.inflight === 0) return 'idle';
  if (stats.health.state === 'down' || stats.activeGroups === 0) return 'stuck';
  return 'delivering';
}

export interface BlockedGroup {
  route: string;
  group: string;
  /** The dead letter that holds the group. */
  heldBy: Message;
  /**
   * Messages of the group queued behind it, counted up to WAITING_COUNT_LIMIT, so that a
   * group with a million waiting costs no more to list than one with ten thousand.
   */
  waiting: number;
  /** More than WAITING_COUNT_LIMIT wait: `waiting` is that limit. */
  waitingCapped: boolean;
}

/** Where counting a blocked group's waiting messages stops (see BlockedGroup.waiting). */
export const WAITING_COUNT_LIMIT = 10_000;

export interface SweepResult {
  /** Queued messages that outlived `queuedMs` and became dead letters. */
  expired: Message[];
  /** Dead letters deleted after `deadLetterMs`; each is logged by the caller. */
  deadLettersDeleted: Message[];
  /** How many delivered messages were deleted after `deliveredMs`. */
  deliveredDeleted: number;
}
