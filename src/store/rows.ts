import { ConflictError, NotFoundError } from '../core/errors.js';
import { HEALTHY, type TargetHealth } from '../core/outage.js';
import type {
  Attempt,
  AttemptOutcome,
  HeaderList,
  Message,
  MessageDetail,
  MessageState,
} from '../core/terms.js';
import {
  type AttemptRecord,
  type BlockedGroup,
  type ClaimedMessage,
  type ExpiredLease,
  type QueuedMessage,
  WAITING_COUNT_LIMIT,
} from './store.js';

/**
 * Rows as the SQL backends keep them (both use the same column names), and their
 * translation into domain types.
 */
export interface MessageRow {
  pk: number;
  id: string;
  route: string;
  group_id: string;
  seq: number;
  dedup_id: string | null;
  state: MessageState;
  attempts: number;
  total_attempts: number;
  received_at: number;
  enqueued_at: number;
  available_at: number;
  leased_at: number | null;
  lease_expires_at: number | null;
  finished_at: number | null;
  last_error: string | null;
  dead_reason: string | null;
  redrives: number;
  replay_of: string | null;
  /** Failed attempts that counted toward maxAttempts. */
  charged: number;
}

export interface PayloadRow {
  headers: string;
  body: Buffer;
}

/** The first undelivered message of a group: its candidate head. */
export interface HeadRow {
  pk: number;
  seq: number;
  state: MessageState;
  available_at: number;
  finished_at: number | null;
}

export interface AttemptRow {
  number: number;
  started_at: number;
  duration_ms: number;
  outcome: AttemptOutcome;
  status: number | null;
  response_excerpt: string | null;
  error: string | null;
}

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    route: row.route,
    group: row.group_id,
    sequence: row.seq,
    dedupId: row.dedup_id,
    // A message leased ahead of its group's head (SQLite) has no lease time until it is
    // started: it still waits.
    state: row.state === 'inflight' && row.lease_expires_at === null ? 'queued' : row.state,
    attempts: row.attempts,
    receivedAt: row.received_at,
    enqueuedAt: row.enqueued_at,
    availableAt: row.available_at,
    leaseExpiresAt: row.lease_expires_at,
    finishedAt: row.finished_at,
    lastError: row.last_error,
    deadReason: row.dead_reason,
    redrives: row.redrives,
    replayOf: row.replay_of,
  };
}

export function toAttempt(row: AttemptRow): Attempt {
  return {
    number: row.number,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    outcome: row.outcome,
    status: row.status,
    responseExcerpt: row.response_excerpt,
    error: row.error,
  };
}

/**
 * A blocked group from its holding dead letter's row and its waiting messages, counted
 * by a query that stops at WAITING_COUNT_LIMIT + 1 (so that more than the limit shows).
 */
export function toBlockedGroup(
  route: string,
  group: string,
  heldBy: MessageRow,
  counted: number,
): BlockedGroup {
  return {
    route,
    group,
    heldBy: toMessage(heldBy),
    waiting: Math.min(counted, WAITING_COUNT_LIMIT),
    waitingCapped: counted > WAITING_COUNT_LIMIT,
  };
}

/**
 * An attempt as the attempts table takes it, in its column order (started_at,
 * duration_ms, outcome, status, response_excerpt, error), for both stores.
 */
export function attemptValues(attempt: AttemptRecord) {
  return [
    attempt.startedAt,
    Math.round(attempt.durationMs),
    attempt.outcome,
    attempt.status,
    attempt.responseExcerpt,
    attempt.error,
  ] as const;
}

/** The text kept as a message's last error after a failed attempt. */
export function attemptError(attempt: AttemptRecord): string {
  return attempt.error ?? (attempt.status !== null ? `HTTP ${attempt.status}` : attempt.outcome);
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The target-health columns of a route's row (SPEC §5a). */
export const ROUTE_HEALTH_COLUMNS =
  'target_state, target_since, target_failures, target_error, probe_at, probe_interval_ms';

export interface RouteHealthRow {
  /** Null where a route has no row yet (an outer join). */
  target_state: 'up' | 'down' | null;
  target_since: number | null;
  target_failures: number;
  target_error: string | null;
  probe_at: number | null;
  probe_interval_ms: number | null;
}

export function healthOf(row: RouteHealthRow | undefined): TargetHealth {
  if (!row || row.target_state === null) return HEALTHY;
  const down = row.target_state === 'down';
  return {
    state: row.target_state,
    since: row.target_since,
    failures: row.target_failures,
    lastError: row.target_error,
    nextProbeAt: down ? row.probe_at : null,
    probeIntervalMs: down ? row.probe_interval_ms : null,
  };
}

/**
 * A route and its target health as the parameters of a health update, in column order:
 * target_state, target_since, target_failures, target_error, probe_at, probe_interval_ms
 * (the inverse of healthOf).
 */
export function healthParams(route: string, health: TargetHealth) {
  return [
    route,
    health.state,
    health.since,
    health.failures,
    health.lastError,
    health.nextProbeAt,
    health.probeIntervalMs,
  ] as const;
}

/** A leased message as a claim hands it out, from its row and its payload. */
export function toClaimedMessage(
  route: string,
  row: Pick<
    MessageRow,
    'id' | 'group_id' | 'seq' | 'attempts' | 'total_attempts' | 'received_at' | 'charged'
  > & { charge_since: number },
  payload: PayloadRow,
  probe: boolean,
): ClaimedMessage {
  return {
    messageId: row.id,
    lease: row.total_attempts,
    route,
    group: row.group_id,
    sequence: row.seq,
    attempt: row.attempts,
    receivedAt: row.received_at,
    headers: JSON.parse(payload.headers) as HeaderList,
    body: payload.body,
    charged: row.charged,
    chargeSince: row.charge_since,
    probe,
  };
}

/** An in-flight message whose lease ran out, from its row. */
export function toExpiredLease(route: string, row: MessageRow): ExpiredLease {
  return {
    messageId: row.id,
    lease: row.total_attempts,
    route,
    group: row.group_id,
    attempt: row.attempts,
    startedAt: row.leased_at ?? 0,
    charged: row.charged,
  };
}

/**
 * The copy a replay enqueues: a delivered message's headers and body as a new message of
 * its group, taking part in no deduplication.
 */
export function replayCopyOf(original: MessageDetail | null, id: string): QueuedMessage {
  if (!original) throw new NotFoundError(`no message ${id}`);
  if (original.state !== 'delivered') {
    throw new ConflictError(
      `message ${id} is ${original.state}; only delivered messages can be replayed (redrive dead letters instead)`,
    );
  }
  return {
    route: original.route,
    group: original.group,
    dedupId: null,
    dedupWindowMs: 0,
    headers: original.headers,
    body: original.body,
    replayOf: original.id,
  };
}
