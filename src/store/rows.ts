import type { Attempt, AttemptOutcome, Message, MessageState } from '../core/terms.js';
import type { AttemptRecord } from './store.js';

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
    state: row.state,
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

/** The text kept as a message's last error after a failed attempt. */
export function attemptError(attempt: AttemptRecord): string {
  return attempt.error ?? (attempt.status !== null ? `HTTP ${attempt.status}` : attempt.outcome);
}

/** What a dead letter that outlived `retention.queued` is marked with. */
export function expiryReason(queuedMs: number, format: (ms: number) => string): string {
  return `expired: queued longer than ${format(queuedMs)}`;
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
