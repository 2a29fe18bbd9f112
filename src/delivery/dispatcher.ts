import type { Logger } from 'pino';
import type { RouteConfig } from '../config/types.js';
import type { Activity } from '../core/activity.js';
import { HEALTHY, isUnavailable, type TargetEvent, type TargetHealth } from '../core/outage.js';
import { type AfterFailure, afterFailure } from '../core/retry.js';
import { attemptError } from '../store/rows.js';
import type { AttemptRecord, ClaimedMessage, Store } from '../store/store.js';
import type { Forwarder, ForwardResult } from './forwarder.js';

export interface DispatcherOptions {
  store: Store;
  routes: readonly RouteConfig[];
  forwarder: Forwarder;
  log: Logger;
  now?: () => number;
  random?: () => number;
  /**
   * Longest sleep without a wake-up event. Events (new messages, completions, resume)
   * wake the dispatcher at once; this only bounds how late it notices work it was not
   * told about, such as another instance's messages on a store without cross-process
   * wake-ups.
   */
  pollMs?: number;
  /** Told of every recorded attempt, for metrics. */
  onAttempt?: (route: RouteConfig, record: AttemptRecord) => void;
  /** Told of each attempt's outcome and each change of a target's health, for those following live. */
  activity?: Activity;
}

/** The lease outlives the attempt's timeout by this share of it (at least a second). */
export function leaseMsFor(timeoutMs: number): number {
  return timeoutMs + Math.max(1_000, Math.round(timeoutMs / 10));
}

/**
 * Expired leases are looked for at most this often, besides when the earliest known lease
 * runs out: a lease outlives its attempt by a second or more, and looking on every pass
 * would cost a query per pass.
 */
const LEASE_CHECK_EVERY_MS = 1_000;

/** How long to wait before trying again after the store failed. */
const STORE_ERROR_BACKOFF_MS = 1_000;
/** While the store keeps failing, its error is logged at most this often per route. */
const STORE_ERROR_LOG_EVERY_MS = 30_000;

/**
 * Claims due group heads from the store and forwards them, route by route. Each route
 * runs up to `delivery.maxConcurrency` attempts at once, one per group: the store only
 * ever hands out the head of a group that is not in flight. While a route's target is
 * down (SPEC §5a) the store hands out one probe at a time; the dispatcher decides which
 * failures are charged to the message and keeps the route's target health up to date.
 */
export class Dispatcher {
  private readonly workers: RouteWorker[];
  private readonly subscriptions: Array<() => void> = [];

  constructor(private readonly options: DispatcherOptions) {
    this.workers = options.routes.map((route) => new RouteWorker(route, options));
  }

  start(): void {
    const byName = new Map(this.workers.map((worker) => [worker.route.name, worker]));
    const { store } = this.options;
    this.subscriptions.push(store.onWork((route) => byName.get(route)?.noticeWork()));
    const onPaused = store.onPaused?.((route, paused) => {
      const worker = byName.get(route);
      if (worker) worker.paused = paused;
    });
    if (onPaused) this.subscriptions.push(onPaused);
    for (const worker of this.workers) worker.kick();
  }

  /**
   * Look at a route now, whatever its target's health says: after an operator's retry-now
   * has brought its next probe forward.
   */
  wake(route: string): void {
    this.workers.find((worker) => worker.route.name === route)?.kick();
  }

  /**
   * Stop claiming, and wait up to `graceMs` for attempts in flight. Returns how many had
   * not finished: their leases expire and they are delivered again after a restart.
   */
  async stop(graceMs: number): Promise<number> {
    for (const unsubscribe of this.subscriptions.splice(0)) unsubscribe();
    const unfinished = await Promise.all(this.workers.map((worker) => worker.stop(graceMs)));
    return unfinished.reduce((sum, n) => sum + n, 0);
  }

  /** Attempts running now, over all routes. */
  get inFlight(): number {
    return this.workers.reduce((sum, worker) => sum + worker.inFlight, 0);
  }
}

class RouteWorker {
  /** Attempts holding a concurrency slot: from the claim until the target answered. */
  private readonly attempts = new Set<ClaimedMessage>();
  /** Attempts not yet finished, outcome recording included: what a graceful stop waits for. */
  private readonly unfinished = new Set<Promise<void>>();
  private readonly leaseMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly pollMs: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private pumping = false;
  /** The current or last pass; it never rejects. */
  private pass: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;
  /**
   * Set when this process paused the route: the store leases nothing more, and what it
   * leased ahead is given back instead of sent.
   */
  paused = false;
  /**
   * Counts passes. A pass's sleep is computed after it ends, from store reads that take
   * time; if another pass began meanwhile, that one's sleep is fresher and this one must
   * not replace its timer.
   */
  private generation = 0;
  /** When the latest claim asked the store: heads due by then that it left are gated. */
  private claimedAt = Number.NEGATIVE_INFINITY;
  /** The target's health as last read or written. */
  private health: TargetHealth = HEALTHY;
  /** After the target came back: the concurrency being ramped up through; undefined: full. */
  private ramp: number | undefined;
  /** When this worker last delivered a message (the store's record may lag a commit behind). */
  private deliveredAt = Number.NEGATIVE_INFINITY;
  /** When the store's failure was last logged. */
  private storeFailureLoggedAt = Number.NEGATIVE_INFINITY;
  /** When expired leases were last looked for, and when the earliest known lease runs out. */
  private leasesCheckedAt = Number.NEGATIVE_INFINITY;
  private leaseRunsOutAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly route: RouteConfig,
    private readonly options: DispatcherOptions,
  ) {
    this.leaseMs = leaseMsFor(route.delivery.timeoutMs);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.pollMs = options.pollMs ?? 5_000;
    this.log = options.log.child({ route: route.name });
  }

  get inFlight(): number {
    return this.attempts.size;
  }

  /**
   * The store has new work for the route (messages, a redrive, a resume). While the
   * target is down none of it can go before the next probe, which the worker's timer is
   * set for: a pass now would only ask the store to hear no.
   */
  noticeWork(): void {
    const { state, nextProbeAt } = this.health;
    if (state === 'down' && nextProbeAt !== null && nextProbeAt > this.now()) return;
    this.kick();
  }

  /** Look for work soon. Calls while a pass is running make it go round once more. */
  kick(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    clearTimeout(this.timer);
    // A microtask, not setImmediate: a claim made now joins the commit that is already
    // being gathered (such as the outcome of the attempt that just finished).
    this.pass = new Promise((resolve) => queueMicrotask(() => resolve(this.pump())));
  }

  async stop(graceMs: number): Promise<number> {
    this.stopped = true;
    clearTimeout(this.timer);
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      // A pass that was claiming when the stop came still starts what it leased: wait
      // for it before taking the attempts to wait for, or those run on unwatched and
      // their outcome is lost when the store closes.
      this.pass.then(() => Promise.allSettled([...this.unfinished])),
      new Promise((resolve) => {
        timeout = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timeout);
    return this.unfinished.size;
  }

  private async pump(): Promise<void> {
    const generation = ++this.generation;
    let retryInMs: number | undefined;
    try {
      do {
        this.again = false;
        const now = this.now();
        if (now >= this.leaseRunsOutAt || now - this.leasesCheckedAt >= LEASE_CHECK_EVERY_MS) {
          this.leasesCheckedAt = now;
          await this.recoverExpiredLeases();
        }
        await this.claimAndStart();
      } while (this.again && !this.stopped);
      this.storeFailureLoggedAt = Number.NEGATIVE_INFINITY;
    } catch (error) {
      // Once when it starts and then now and then, not on every retry of an outage.
      const now = this.now();
      if (now - this.storeFailureLoggedAt >= STORE_ERROR_LOG_EVERY_MS) {
        this.storeFailureLoggedAt = now;
        this.log.error({ err: error }, 'delivery paused: the store failed; trying again shortly');
      }
      retryInMs = STORE_ERROR_BACKOFF_MS;
    } finally {
      this.pumping = false;
    }
    if (this.stopped) return;
    if (this.again) {
      this.kick();
      return;
    }
    await this.sleep(generation, retryInMs);
  }

  /** Attempts this worker may run at once now: the route's limit, or the ramp after an outage. */
  private get concurrency(): number {
    const { maxConcurrency } = this.route.delivery;
    return Math.min(maxConcurrency, this.ramp ?? maxConcurrency);
  }

  private async claimAndStart(): Promise<void> {
    const { maxConcurrency, maxPerSecond } = this.route.delivery;
    while (!this.stopped && this.attempts.size < this.concurrency) {
      const limit = this.concurrency - this.attempts.size;
      this.claimedAt = this.now();
      const claimed = await this.options.store.claimDue({
        route: this.route.name,
        limit,
        maxConcurrency,
        leaseMs: this.leaseMs,
        maxPerSecond,
        lookAhead: true,
      });
      for (const message of claimed) {
        this.start(message, { ready: message.ahead ?? [], more: Promise.resolve() });
      }
      // Fewer than asked for: nothing more is due now, or the route is held.
      if (claimed.length < limit) return;
    }
  }

  /** Run an attempt; `chain` holds what was leased ahead of it in its group. */
  private start(message: ClaimedMessage, chain: Chain): void {
    this.attempts.add(message);
    const run = this.deliver(message, chain)
      .catch((error: unknown) => {
        // The outcome could not be recorded; the lease will expire and the message
        // will be tried again, so nothing is lost.
        this.log.error(
          { err: error, messageId: message.messageId },
          'could not record the outcome of an attempt; it will be retried after its lease expires',
        );
        // Its slot may be free already, without the claim that waited for the outcome.
        this.kick();
      })
      .finally(() => {
        this.unfinished.delete(run);
        this.freeSlot(message);
      });
    this.unfinished.add(run);
  }

  private freeSlot(message: ClaimedMessage): void {
    if (this.attempts.delete(message)) this.kick();
  }

  private async deliver(message: ClaimedMessage, chain: Chain): Promise<void> {
    const { route } = this;
    const record = await this.options.forwarder.forward(
      {
        id: message.messageId,
        route: route.name,
        group: message.group,
        sequence: String(message.sequence),
        attempt: message.attempt,
        receivedAt: message.receivedAt,
        headers: message.headers,
        body: message.body,
      },
      {
        target: route.target,
        timeoutMs: route.delivery.timeoutMs,
        forwardHeaders: route.forwardHeaders,
        sign: route.sign,
      },
    );
    const now = this.now();
    const delivered = record.outcome === 'delivered';
    const unavailable = !delivered && isUnavailable(record);
    // The target's own wait, capped as the backoff is.
    const retryAfterMs =
      record.retryAfterMs === undefined
        ? undefined
        : Math.min(record.retryAfterMs, route.retry.backoff.maxMs);
    let next: AfterFailure | undefined;
    if (!delivered) {
      // A rejection is the message's fault. An unavailable attempt is only if the target
      // took other messages since this one's previous attempt.
      const charged = !unavailable || (await this.deliveredSince(message.chargeSince));
      const decided = afterFailure(
        route.retry,
        { attempt: message.attempt, charged: message.charged + (charged ? 1 : 0) },
        now,
        this.random,
        retryAfterMs,
      );
      next = 'retryAt' in decided ? { ...decided, charged, heldByOutage: unavailable } : decided;
    } else {
      this.deliveredAt = now;
      if (this.ramp !== undefined) {
        this.ramp = this.ramp + 1 >= route.delivery.maxConcurrency ? undefined : this.ramp + 1;
      }
    }
    // Queued before the outcome: where writes take effect in call order, a breaker that
    // trips here holds the claim that the freed slot triggers.
    const health = this.noteTarget(message, record, unavailable, retryAfterMs, now);
    const recorded =
      next === undefined
        ? this.deliveredAndNext(message, record, chain, await nextIn(chain))
        : // The messages leased ahead, if any, are given back with this outcome.
          this.options.store.markFailed(message, record, next);
    // Free the slot before the outcome commits: where writes take effect in call order,
    // the claim this triggers is queued behind the outcome (in the same commit, or a
    // later one), so it sees the group's next message, and one commit both settles this
    // attempt and leases that message. Elsewhere a claim now would run beside the
    // outcome and find the group still in flight: it waits for the outcome.
    const inCallOrder = this.options.store.capabilities.writesInCallOrder;
    if (inCallOrder) this.freeSlot(message);
    else this.attempts.delete(message);
    const [kept] = await Promise.all([recorded, health]);
    if (!inCallOrder) this.kick();
    this.logOutcome(message, record, next, kept);
    this.options.onAttempt?.(route, record);
    if (this.options.activity?.followed) {
      this.options.activity.publish({
        type: 'attempt',
        at: now,
        route: route.name,
        ...attemptFields(message, record),
        error: record.outcome === 'delivered' ? null : attemptError(record),
        next: next === undefined ? 'delivered' : 'deadLetter' in next ? 'dead' : 'retry',
        retryAt: next !== undefined && 'retryAt' in next ? next.retryAt : null,
        deadReason: next !== undefined && 'deadLetter' in next ? next.deadLetter : null,
      });
    }
  }

  /**
   * Record a delivery, and send the group's next message at once if it was leased ahead:
   * its lease and attempt number were committed while this one was in flight, so the two
   * round trips (this outcome's commit, the next attempt) overlap. Once stopping or
   * paused, the messages leased ahead are given back instead.
   */
  private deliveredAndNext(
    message: ClaimedMessage,
    record: ForwardResult,
    chain: Chain,
    next: ClaimedMessage | undefined,
  ): Promise<boolean> {
    const { store } = this.options;
    if (next === undefined || this.stopped || this.paused || !store.markDeliveredAndStarted) {
      return store.markDelivered(message, record);
    }
    const { leaseMs } = this;
    const { maxConcurrency, maxPerSecond } = this.route.delivery;
    const both = store.markDeliveredAndStarted(message, record, next, {
      leaseMs,
      maxConcurrency,
      maxPerSecond,
    });
    chain.more = both.then(
      ({ kept, ahead }) => {
        // Lost: the store has taken back what was leased ahead; the chain stops.
        if (kept) chain.ready.push(...ahead);
        else chain.ready.length = 0;
      },
      () => {
        chain.ready.length = 0;
      },
    );
    this.start(next, chain);
    return both.then(({ kept }) => kept);
  }

  private logOutcome(
    message: ClaimedMessage,
    record: ForwardResult,
    next: AfterFailure | undefined,
    kept: boolean,
  ): void {
    const context = { ...attemptFields(message, record), kept };
    if (next === undefined) {
      this.log.debug(context, 'delivered');
    } else if ('deadLetter' in next) {
      this.log.warn({ ...context, error: record.error, reason: next.deadLetter }, 'dead-lettered');
    } else {
      const fields = {
        ...context,
        error: record.error,
        charged: next.charged !== false,
        retryAt: new Date(next.retryAt).toISOString(),
      };
      // While the target is down its probes fail by the dozen: the state change was logged.
      if (this.health.state === 'down') this.log.debug(fields, 'attempt failed; will retry');
      else this.log.info(fields, 'attempt failed; will retry');
    }
  }

  /** Whether another message of the route was delivered after `since`. */
  private async deliveredSince(since: number): Promise<boolean> {
    if (this.deliveredAt > since) return true;
    const at = await this.options.store.lastDeliveredAt(this.route.name);
    return at !== null && at > since;
  }

  /**
   * Apply an attempt to the route's target health (the breaker). Answers of a target
   * that is up and has no run of failures change nothing, so a healthy route never
   * writes here.
   */
  private async noteTarget(
    message: ClaimedMessage,
    record: AttemptRecord,
    unavailable: boolean,
    retryAfterMs: number | undefined,
    now: number,
  ): Promise<void> {
    const event: TargetEvent = unavailable
      ? {
          kind: 'unavailable',
          error: attemptError(record),
          probe: message.probe,
          ...(retryAfterMs === undefined ? {} : { retryAt: now + retryAfterMs }),
        }
      : { kind: 'answered' };
    const clean = this.health.state === 'up' && this.health.failures === 0;
    if (event.kind === 'answered' && clean && !message.probe) return;
    const policy = this.route.delivery.breaker;
    const { before, after } = await this.options.store.updateTargetHealth(this.route.name, {
      event,
      policy,
      now,
    });
    this.health = after;
    if (before.state === after.state) return;
    this.options.activity?.publish({
      type: 'target',
      at: now,
      route: this.route.name,
      state: after.state,
      error: after.state === 'down' ? after.lastError : null,
    });
    if (after.state === 'down') {
      this.log.warn(
        {
          error: after.lastError,
          failures: after.failures,
          nextProbeAt:
            after.nextProbeAt === null ? null : new Date(after.nextProbeAt).toISOString(),
        },
        'target is down: deliveries are held, and one probe at a time checks for its return',
      );
    } else {
      // Ramp up from one attempt at a time rather than hitting a recovering target with
      // the whole backlog at once.
      this.ramp = 1;
      this.log.info(
        {
          downForMs: before.since === null ? null : now - before.since,
          messageId: message.messageId,
        },
        'target is up again: deliveries resume',
      );
    }
  }

  /** Messages whose holder crashed: their lost attempt counts, and they go round again. */
  private async recoverExpiredLeases(): Promise<void> {
    const expired = await this.options.store.expiredLeases(this.route.name, 100);
    for (const lease of expired) {
      const now = this.now();
      const record: AttemptRecord = {
        startedAt: lease.startedAt,
        durationMs: Math.max(0, now - lease.startedAt),
        outcome: 'lease_expired',
        status: null,
        responseExcerpt: null,
        error:
          'the lease expired before an outcome was recorded (hookq stopped or crashed during the attempt)',
      };
      const next = afterFailure(
        this.route.retry,
        { attempt: lease.attempt, charged: lease.charged + 1 },
        now,
        this.random,
      );
      if (await this.options.store.markFailed(lease, record, next)) {
        this.log.warn(
          { messageId: lease.messageId, group: lease.group, attempt: lease.attempt },
          'lease expired; the message goes round again',
        );
      }
    }
  }

  /**
   * Sleep until the next thing this worker can act on: a head that becomes due, a lease
   * that runs out, the next probe of a down target, the next start a rate limit allows;
   * at most the poll bound. A pause, the concurrency limit or another instance's probe
   * hold due heads back: a resume, a completion or a notification wakes the worker then.
   */
  private async sleep(generation: number, delayMs?: number): Promise<void> {
    let wait = delayMs ?? this.pollMs;
    if (delayMs === undefined) {
      try {
        const [due, lease, health] = await Promise.all([
          this.options.store.nextDueAt(this.route.name),
          this.options.store.nextLeaseExpiry(this.route.name),
          this.options.store.targetHealth(this.route.name),
        ]);
        this.health = health;
        this.leaseRunsOutAt = lease ?? Number.POSITIVE_INFINITY;
        const wakeAt: number[] = [];
        if (lease !== null) wakeAt.push(lease);
        // A time after the latest claim is news; one before it was seen, and held back.
        const news = (at: number | null): at is number => at !== null && at > this.claimedAt;
        if (health.state === 'down') {
          if (news(health.nextProbeAt)) wakeAt.push(health.nextProbeAt);
        } else if (due !== null && this.attempts.size < this.concurrency) {
          const { maxPerSecond } = this.route.delivery;
          if (news(due)) wakeAt.push(due);
          else if (maxPerSecond !== undefined) wakeAt.push(this.claimedAt + 1000 / maxPerSecond);
        }
        const now = this.now();
        for (const at of wakeAt) wait = Math.min(wait, Math.max(0, at - now));
      } catch (error) {
        this.log.error({ err: error }, 'could not read the next due time');
        wait = STORE_ERROR_BACKOFF_MS;
      }
    }
    if (this.stopped || this.pumping || generation !== this.generation) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), wait);
  }
}

/**
 * A group's messages leased ahead of the one in flight, shared along the group's run of
 * attempts: `ready` in order, and `more`, the latest commit that may add to them.
 */
interface Chain {
  ready: ClaimedMessage[];
  more: Promise<void>;
}

/**
 * The group's next message, if one is leased ahead: at once if known, else once the
 * commit under way says whether it leased one.
 */
async function nextIn(chain: Chain): Promise<ClaimedMessage | undefined> {
  if (chain.ready.length === 0) await chain.more;
  return chain.ready.shift();
}

/** What the log and the live activity both say of an attempt. */
function attemptFields(message: ClaimedMessage, record: ForwardResult) {
  return {
    messageId: message.messageId,
    group: message.group,
    sequence: message.sequence,
    attempt: message.attempt,
    outcome: record.outcome,
    status: record.status,
    durationMs: Math.round(record.durationMs),
  };
}
