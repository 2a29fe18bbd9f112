import { ConflictError } from '../../core/errors.js';
import { newMessageId } from '../../core/ids.js';
import { nextHealth, type TargetHealth } from '../../core/outage.js';
import { expiryReason, type RetentionPolicy } from '../../core/retention.js';
import type { AfterFailure } from '../../core/retry.js';
import type { Message, MessageState, Ordering } from '../../core/terms.js';
import {
  asBuffer,
  attemptError,
  attemptValues,
  type HeadRow,
  healthOf,
  healthParams,
  type MessageRow,
  type PayloadRow,
  type RouteHealthRow,
  toClaimedMessage,
  toMessage,
} from '../rows.js';
import type {
  AttemptRecord,
  ClaimedMessage,
  ClaimRequest,
  EnqueueResult,
  HealthChange,
  LeaseRef,
  QueuedMessage,
  RedriveSelector,
  StaleGroup,
  SweepResult,
} from '../store.js';
import type { DedupIndex } from './dedup-index.js';
import { dedupKey } from './dedup-key.js';
import { countOf, type Statements } from './queries.js';

/** The columns of a route's row. */
export interface RouteRow extends RouteHealthRow {
  paused: number;
  probe_until: number | null;
  rate_next_at: number | null;
}

/** A group's row, as refreshing it reads it. */
interface GroupRow {
  head_pk: number;
  status: string;
  ahead_pk: number | null;
  ahead2_pk: number | null;
}

/**
 * How many of a group's messages are leased ahead of its head at most: one is sent the
 * moment the head is delivered, while the commit that leases the next is still under way.
 */
const LEASED_AHEAD = 2;

/** A row of the dedup log. */
interface DedupRow {
  route: string;
  key: Buffer;
  message_id: string;
  expires_at: number;
}

/** `full`: fsynced before it resolves (acknowledged data). `normal`: survives a process crash. */
export type Durability = 'full' | 'normal';

/**
 * The state changes of the SQLite store, each run inside the writer thread's current
 * transaction (see writer-thread.ts). Each takes one argument of plain data and returns
 * plain data, since both cross between threads; the time comes with the argument, read
 * from the store's clock when the change was asked for.
 */
export class Writes {
  constructor(
    private readonly sql: Statements,
    private readonly ordering: Record<string, Ordering>,
    private readonly onStaleGroup: (problem: StaleGroup) => void,
    private readonly dedup: DedupIndex,
  ) {}

  enqueue({ message, now }: { message: QueuedMessage; now: number }): EnqueueResult {
    const key = message.dedupId === null ? null : dedupKey(message.dedupId);
    if (key !== null) {
      const seen = this.seen(message.route, key);
      if (seen && seen.expires_at > now) return { messageId: seen.message_id, duplicate: true };
    }
    const { last_seq: sequence } = this.sql.nextSeq.get(message.route) as {
      last_seq: number;
    };
    const id = newMessageId();
    const { lastInsertRowid } = this.sql.insertMessage.run(
      id,
      message.route,
      message.group,
      sequence,
      message.dedupId,
      now,
      now,
      now,
      message.replayOf ?? null,
    );
    const pk = Number(lastInsertRowid);
    this.sql.insertPayload.run(pk, JSON.stringify(message.headers), asBuffer(message.body));
    // A new message has the highest sequence of its group: it becomes the head only
    // when the group has nothing else pending.
    this.sql.groupAdd.run(message.route, message.group, pk, now);
    if (key !== null) {
      const row = this.sql.dedupPut.run(message.route, key, id, now + message.dedupWindowMs);
      this.dedup.add(message.route, key, Number(row.lastInsertRowid));
    }
    return { messageId: id, sequence, duplicate: false };
  }

  /** The latest log row that holds (route, key), expired or not; undefined when none does. */
  private seen(route: string, key: Buffer): DedupRow | undefined {
    let latest: DedupRow | undefined;
    for (const n of this.dedup.candidates(route, key)) {
      const row = this.sql.dedupGet.get(n) as DedupRow | undefined;
      // A hint may name a row rolled back or swept since (see DedupIndex).
      if (row?.route !== route || !key.equals(row.key)) continue;
      if (!latest || row.expires_at > latest.expires_at) latest = row;
    }
    return latest;
  }

  claim({ request, now }: { request: ClaimRequest; now: number }): ClaimedMessage[] {
    const route = this.sql.routeGet.get(request.route) as RouteRow | undefined;
    if (!route || route.paused) return [];
    let room = Math.min(
      request.limit,
      request.maxConcurrency - countOf(this.sql, request.route, 'inflight'),
    );
    if (room <= 0) return [];
    const probe = route.target_state === 'down';
    if (probe) {
      // One probe at a time, once its time has come.
      if ((route.probe_at ?? 0) > now || (route.probe_until ?? 0) > now) return [];
      room = 1;
    }
    if (request.maxPerSecond !== undefined) {
      // Starts at least 1/maxPerSecond apart: no second ever holds more than that many.
      if ((route.rate_next_at ?? 0) > now) return [];
      room = 1;
    }
    const leaseExpiresAt = now + request.leaseMs;
    const claimed: ClaimedMessage[] = [];
    // A stale row leases nothing and is dropped: look again for the room it took.
    for (let stale = true, tries = 0; stale && claimed.length < room && tries < 3; tries++) {
      const heads = (
        probe
          ? this.sql.probeHead.all(request.route, now)
          : this.sql.dueHeads.all(request.route, now, room - claimed.length)
      ) as Array<{ group_id: string; head_pk: number }>;
      const before = claimed.length;
      for (const head of heads) {
        claimed.push(...this.leaseHead(request.route, head, now, probe, leaseExpiresAt));
      }
      stale = claimed.length - before < heads.length;
    }
    if (request.lookAhead && !probe && request.maxPerSecond === undefined) {
      let spare = request.maxConcurrency - countOf(this.sql, request.route, 'inflight');
      for (const head of claimed) {
        if (spare <= 0) break;
        const leased = this.leaseAhead(request.route, head.group, head.sequence, now, spare);
        if (leased.length === 0) continue;
        spare -= leased.length;
        head.ahead = leased.map(({ message }) => message);
        this.sql.groupAhead.run(leased[0]!.pk, leased[1]?.pk ?? null, request.route, head.group);
      }
    }
    if (claimed.length > 0 && probe) this.sql.probeLeased.run(leaseExpiresAt, request.route);
    if (claimed.length > 0 && request.maxPerSecond !== undefined) {
      this.sql.rateTaken.run(now + 1000 / request.maxPerSecond, request.route);
    }
    return claimed;
  }

  deliver({
    lease,
    attempt,
    now,
  }: {
    lease: LeaseRef;
    attempt: AttemptRecord;
    now: number;
  }): boolean {
    return this.settle(
      this.sql.deliver.get(now, lease.messageId, lease.lease),
      lease,
      attempt,
      now,
    );
  }

  /**
   * Deliver a head and start the first message leased ahead of it, which was sent the
   * moment the head's 2xx came: it becomes the group's head in flight, with a lease from
   * now, and more are leased ahead to keep LEASED_AHEAD of them.
   */
  deliverAndStart({
    lease,
    attempt,
    started,
    request,
    now,
  }: {
    lease: LeaseRef;
    attempt: AttemptRecord;
    started: LeaseRef;
    request: Pick<ClaimRequest, 'leaseMs' | 'maxConcurrency' | 'maxPerSecond'>;
    now: number;
  }): { kept: boolean; ahead: ClaimedMessage[] } {
    const row = this.sql.deliver.get(now, lease.messageId, lease.lease) as
      | { pk: number; route: string; group_id: string }
      | undefined;
    if (!row) return { kept: false, ahead: [] };
    const { route, group_id: group } = row;
    this.sql.insertAttempt.run(row.pk, lease.lease, ...attemptValues(attempt));
    const current = this.sql.groupGet.get(route, group) as GroupRow | undefined;
    const leaseExpiresAt = now + request.leaseMs;
    const head =
      current?.ahead_pk == null
        ? undefined
        : (this.sql.aheadStarted.get(
            now,
            leaseExpiresAt,
            current.ahead_pk,
            started.messageId,
            started.lease,
          ) as { pk: number; seq: number } | undefined);
    if (!head) {
      // Not the message leased ahead (whose lease was lost with the head's): the started
      // attempt's outcome will be refused, and the message goes round again.
      if (current) this.dropAhead(current, null);
      this.refreshGroup(route, group, current);
      return { kept: true, ahead: [] };
    }
    this.sql.groupStarted.run(head.pk, leaseExpiresAt, route, group);
    const routeRow = this.sql.routeGet.get(route) as RouteRow | undefined;
    const room = request.maxConcurrency - countOf(this.sql, route, 'inflight');
    if (
      request.maxPerSecond !== undefined ||
      routeRow?.paused ||
      routeRow?.target_state === 'down' ||
      room <= 0
    ) {
      return { kept: true, ahead: [] };
    }
    // The one still leased ahead stays first; more follow it.
    const second = current!.ahead2_pk;
    const after =
      second === null ? head.seq : (this.sql.seqByPk.get(second) as { seq: number }).seq;
    const leased = this.leaseAhead(
      route,
      group,
      after,
      now,
      Math.min(room, LEASED_AHEAD - (second === null ? 0 : 1)),
    );
    if (leased.length > 0) {
      const pks = [...(second === null ? [] : [second]), ...leased.map(({ pk }) => pk)];
      this.sql.groupAhead.run(pks[0]!, pks[1] ?? null, route, group);
    }
    return { kept: true, ahead: leased.map(({ message }) => message) };
  }

  fail({
    lease,
    attempt,
    next,
    now,
  }: {
    lease: LeaseRef;
    attempt: AttemptRecord;
    next: AfterFailure;
    now: number;
  }): boolean {
    const error = attemptError(attempt);
    const row =
      'retryAt' in next
        ? this.sql.retryLater.get(
            next.retryAt,
            error,
            next.charged === false ? 0 : 1,
            next.heldByOutage ? 1 : 0,
            now,
            lease.messageId,
            lease.lease,
          )
        : this.sql.deadLetter.get(now, next.deadLetter, error, lease.messageId, lease.lease);
    const dead = row as MessageRow | undefined;
    // A dead letter of a strict route holds its group: it stays among the pending.
    if (dead && 'deadLetter' in next && this.orderingOf(dead.route) === 'strict') {
      this.sql.markBlocking.run(dead.pk);
    }
    return this.settle(row, lease, attempt, now);
  }

  updateTargetHealth({ route, change }: { route: string; change: HealthChange }): {
    before: TargetHealth;
    after: TargetHealth;
  } {
    const before = healthOf(this.sql.routeGet.get(route) as RouteRow | undefined);
    const after = nextHealth(before, change.event, change.policy, change.now);
    if (after !== before) {
      this.sql.healthPut.run(...healthParams(route, after));
    }
    if (before.state === 'down' && after.state === 'up') {
      this.sql.healHeads.run(change.now, route, change.now);
      this.sql.groupsDueAgain.run({ now: change.now, route });
    }
    return { before, after };
  }

  retryNow({
    route,
    only,
    now,
  }: {
    route: string;
    only: { group?: string; id?: string };
    now: number;
  }): number {
    const { changes } = this.sql.retryNowHeads.run({
      now,
      route,
      group: only.group ?? null,
      id: only.id ?? null,
    });
    this.sql.groupsDueAgain.run({ now, route });
    this.sql.probeNow.run(now, route);
    return changes;
  }

  /** Returns how many moved, and the routes they are on. */
  redrive({ selector, limit, now }: { selector: RedriveSelector; limit: number; now: number }): {
    moved: number;
    routes: string[];
  } {
    const pks = this.deadLettersFor(selector, limit);
    const groups = new Map<string, [route: string, group: string]>();
    for (const pk of pks) {
      const row = this.sql.redrive.get(now, now, pk) as { route: string; group_id: string };
      groups.set(JSON.stringify([row.route, row.group_id]), [row.route, row.group_id]);
    }
    for (const [route, group] of groups.values()) this.refreshGroup(route, group);
    return {
      moved: pks.length,
      routes: [...new Set([...groups.values()].map(([route]) => route))],
    };
  }

  discard({ id }: { id: string }): Message | null {
    const row = this.sql.messageById.get(id) as MessageRow | undefined;
    if (!row) return null;
    if (row.state !== 'dead') {
      throw new ConflictError(`message ${id} is ${row.state}; only dead letters can be discarded`);
    }
    this.sql.deleteMessage.run(row.pk);
    this.refreshGroup(row.route, row.group_id);
    return toMessage(row);
  }

  setPaused({ route, paused }: { route: string; paused: boolean }): void {
    this.sql.setPaused.run(route, paused ? 1 : 0);
  }

  sweep({
    route,
    retention,
    limit,
    now,
  }: {
    route: string;
    retention: RetentionPolicy;
    limit: number;
    now: number;
  }): SweepResult {
    const touched = new Set<string>();

    const reason = expiryReason(retention.queuedMs);
    const blocking = this.orderingOf(route) === 'strict' ? 1 : 0;
    const old = this.sql.queuedOlderThan.all(route, now - retention.queuedMs, limit) as Array<{
      pk: number;
    }>;
    const expired = old.map(({ pk }) => {
      const row = this.sql.expire.get(now, reason, blocking, pk) as MessageRow;
      touched.add(row.group_id);
      return toMessage(row);
    });

    const dead = this.sql.deadOlderThan.all(
      route,
      now - retention.deadLetterMs,
      limit,
    ) as MessageRow[];
    for (const row of dead) {
      this.sql.deleteMessage.run(row.pk);
      touched.add(row.group_id);
    }

    const delivered = this.sql.deliveredOlderThan.all(
      route,
      now - retention.deliveredMs,
      limit,
    ) as Array<{
      pk: number;
    }>;
    for (const { pk } of delivered) this.sql.deleteMessage.run(pk);

    const forgotten = this.sql.dedupExpire.all(route, now, limit) as Array<{
      n: number;
      route: string;
      key: Buffer;
    }>;
    for (const row of forgotten) this.dedup.remove(row.route, row.key, row.n);
    for (const group of touched) this.refreshGroup(route, group);
    return {
      expired,
      deadLettersDeleted: dead.map(toMessage),
      deliveredDeleted: delivered.length,
    };
  }

  /**
   * Lease one group head. A group row whose head is not a queued message is stale (a
   * group id that did not read back as written, in a database from before ids were
   * cleaned): it is dropped and reported, and the claim goes on with the other groups.
   */
  private leaseHead(
    route: string,
    head: { group_id: string; head_pk: number },
    now: number,
    probe: boolean,
    leaseExpiresAt: number,
  ): ClaimedMessage[] {
    const row = this.sql.lease.get(now, leaseExpiresAt, head.head_pk) as
      | (MessageRow & { charge_since: number })
      | undefined;
    if (!row) {
      this.sql.groupDeleteByHead.run(route, head.head_pk);
      const message = this.sql.messageByPk.get(head.head_pk) as MessageRow | undefined;
      if (message) this.refreshGroup(route, message.group_id);
      this.onStaleGroup({ route, group: head.group_id, messageId: message?.id ?? null });
      return [];
    }
    this.sql.groupLeased.run(leaseExpiresAt, route, head.group_id);
    return [toClaimedMessage(route, row, this.sql.payloadGet.get(row.pk) as PayloadRow, probe)];
  }

  /**
   * Lease up to `most` of the group's messages after `seq` ahead, in order, as long as
   * they are due: each takes an attempt number now, and its lease's times once it is
   * started (deliverAndStart). The caller keeps them in the group's row.
   *
   * In a fifo group the next to lease is its first queued message. One that comes before
   * `seq` was redriven while the group was on its way, and must go before anything not yet
   * leased (SPEC §2: a redrive keeps order): nothing more is leased, the chain ends with
   * what is leased already (it may have been sent), and the next claim takes it. A strict
   * group's dead letter holds it, so none is redriven while it is on its way; there the
   * next is the first pending message after `seq`, and a dead letter ends the chain.
   */
  private leaseAhead(
    route: string,
    group: string,
    seq: number,
    now: number,
    most: number,
  ): Array<{ pk: number; message: ClaimedMessage }> {
    const strict = this.orderingOf(route) === 'strict';
    const leased: Array<{ pk: number; message: ClaimedMessage }> = [];
    for (let after = seq; leased.length < Math.min(most, LEASED_AHEAD); ) {
      const next = (
        strict
          ? this.sql.pendingAfter.get(route, group, after)
          : this.sql.firstQueued.get(route, group)
      ) as HeadRow | undefined;
      if (next?.state !== 'queued' || next.seq < after || next.available_at > now) break;
      const row = this.sql.leaseAhead.get(next.pk, now) as
        | (MessageRow & { charge_since: number })
        | undefined;
      if (!row) break;
      const payload = this.sql.payloadGet.get(row.pk) as PayloadRow;
      leased.push({ pk: row.pk, message: toClaimedMessage(route, row, payload, false) });
      after = row.seq;
    }
    return leased;
  }

  /** Record the attempt of a completed lease and move its group on. */
  private settle(row: unknown, lease: LeaseRef, attempt: AttemptRecord, now: number): boolean {
    if (!row) return false; // the lease was lost: expired, and the message taken again
    const { pk, route, group_id } = row as { pk: number; route: string; group_id: string };
    this.sql.insertAttempt.run(pk, lease.lease, ...attemptValues(attempt));
    const current = this.sql.groupGet.get(route, group_id) as GroupRow | undefined;
    if (current) {
      // The chain ends here, and the messages leased ahead wait again. A lost head may have
      // been delivered and those sent: they count a lost attempt too. Any other outcome
      // came before they could be sent.
      this.dropAhead(current, attempt.outcome === 'lease_expired' ? now : null);
    }
    this.refreshGroup(route, group_id, current);
    return true;
  }

  /**
   * End the leases of a group's messages leased ahead: given back untouched, or, when they
   * may have been sent (`lostAt`), each with a lost attempt recorded and not charged.
   */
  private dropAhead(group: GroupRow, lostAt: number | null): void {
    for (const pk of [group.ahead_pk, group.ahead2_pk]) {
      if (pk !== null) this.dropOneAhead(pk, lostAt);
    }
  }

  private dropOneAhead(aheadPk: number, lostAt: number | null): void {
    if (lostAt === null) {
      this.sql.aheadGiveBack.run(aheadPk);
      return;
    }
    const lost = this.sql.aheadLost.get(lostAt, lostAt, aheadPk) as
      | { pk: number; total_attempts: number }
      | undefined;
    if (!lost) return;
    this.sql.insertAttempt.run(
      lost.pk,
      lost.total_attempts,
      ...attemptValues({
        startedAt: lostAt,
        durationMs: 0,
        outcome: 'lease_expired',
        status: null,
        responseExcerpt: null,
        error:
          'leased ahead when the lease of the head of its group expired (hookq stopped or crashed); it may have been sent',
      }),
    );
  }

  /**
   * Recompute a group's head after a change to its messages. While a message of the
   * group is in flight, it stays the head: one at a time, always. Otherwise the head is
   * the first undelivered message in sequence order: queued (the group is ready) or,
   * in strict ordering, a dead letter (the group is blocked). In fifo ordering dead
   * letters are passed over.
   */
  private refreshGroup(
    route: string,
    group: string,
    current = this.sql.groupGet.get(route, group) as GroupRow | undefined,
  ): void {
    if (current?.status === 'inflight') {
      const head = this.sql.stateByPk.get(current.head_pk) as { state: MessageState } | undefined;
      if (head?.state === 'inflight') return;
    }
    const first = (
      this.orderingOf(route) === 'strict'
        ? this.sql.firstPending.get(route, group)
        : this.sql.firstQueued.get(route, group)
    ) as HeadRow | undefined;
    if (!first) {
      this.sql.groupDelete.run(route, group);
    } else if (first.state === 'dead') {
      this.sql.groupPut.run(route, group, first.pk, 'blocked', first.finished_at);
    } else {
      this.sql.groupPut.run(route, group, first.pk, 'ready', first.available_at);
    }
  }

  private deadLettersFor(selector: RedriveSelector, limit: number): number[] {
    if ('ids' in selector) {
      return selector.ids
        .flatMap((id) => {
          const row = this.sql.deadById.get(id) as { pk: number } | undefined;
          return row ? [row.pk] : [];
        })
        .slice(0, limit);
    }
    const rows =
      'all' in selector
        ? this.sql.deadAll.all(limit)
        : selector.group === undefined
          ? this.sql.deadOfRoute.all(selector.route, limit)
          : this.sql.deadOfGroup.all(selector.route, selector.group, limit);
    return (rows as Array<{ pk: number }>).map((row) => row.pk);
  }

  private orderingOf(route: string): Ordering {
    return this.ordering[route] ?? 'strict';
  }
}

/** The changes a writer thread makes, by name. */
export type WriteName = keyof Writes;
export type WriteArg<K extends WriteName> = Parameters<Writes[K]>[0];
export type WriteResult<K extends WriteName> = ReturnType<Writes[K]>;

/**
 * How durable each change must be before it resolves. An enqueue (acknowledged to a
 * sender) or an operator's action is fsynced; delivery bookkeeping only needs to survive
 * a process crash: a power cut can only lose an outcome, which makes the message be
 * delivered again (at-least-once), never lost.
 */
export const DURABILITY: Record<WriteName, Durability> = {
  enqueue: 'full',
  claim: 'normal',
  deliver: 'normal',
  deliverAndStart: 'normal',
  fail: 'normal',
  updateTargetHealth: 'normal',
  retryNow: 'full',
  redrive: 'full',
  discard: 'full',
  setPaused: 'full',
  sweep: 'full',
};
