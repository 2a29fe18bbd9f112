import type { Logger } from 'pino';
import type { RouteConfig } from '../config/types.js';
import { afterFailure } from '../core/retry.js';
import type { AttemptRecord, ClaimedMessage, Store } from '../store/store.js';
import type { Forwarder } from './forwarder.js';

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
}

/** The lease outlives the attempt's timeout by this share of it (at least a second). */
export function leaseMsFor(timeoutMs: number): number {
  return timeoutMs + Math.max(1_000, Math.round(timeoutMs / 10));
}

/** How long to wait before trying again after the store failed. */
const STORE_ERROR_BACKOFF_MS = 1_000;

/**
 * Claims due group heads from the store and forwards them, route by route. Each route
 * runs up to `delivery.maxConcurrency` attempts at once, one per group: the store only
 * ever hands out the head of a group that is not in flight.
 */
export class Dispatcher {
  private readonly workers: RouteWorker[];
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly options: DispatcherOptions) {
    this.workers = options.routes.map((route) => new RouteWorker(route, options));
  }

  start(): void {
    const byName = new Map(this.workers.map((worker) => [worker.route.name, worker]));
    this.unsubscribe = this.options.store.onWork((route) => byName.get(route)?.kick());
    for (const worker of this.workers) worker.kick();
  }

  /**
   * Stop claiming, and wait up to `graceMs` for attempts in flight. Returns how many had
   * not finished: their leases expire and they are delivered again after a restart.
   */
  async stop(graceMs: number): Promise<number> {
    this.unsubscribe?.();
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
    let retryInMs: number | undefined;
    try {
      do {
        this.again = false;
        await this.recoverExpiredLeases();
        await this.claimAndStart();
      } while (this.again && !this.stopped);
    } catch (error) {
      this.log.error({ err: error }, 'delivery paused: the store failed; trying again shortly');
      retryInMs = STORE_ERROR_BACKOFF_MS;
    } finally {
      this.pumping = false;
    }
    if (this.stopped) return;
    if (this.again) {
      this.kick();
      return;
    }
    await this.sleep(retryInMs);
  }

  private async claimAndStart(): Promise<void> {
    const { maxConcurrency } = this.route.delivery;
    while (!this.stopped && this.attempts.size < maxConcurrency) {
      const limit = maxConcurrency - this.attempts.size;
      const claimed = await this.options.store.claimDue({
        route: this.route.name,
        limit,
        maxConcurrency,
        leaseMs: this.leaseMs,
      });
      for (const message of claimed) this.start(message);
      // Fewer than asked for: nothing more is due now.
      if (claimed.length < limit) return;
    }
  }

  private start(message: ClaimedMessage): void {
    this.attempts.add(message);
    const run = this.deliver(message)
      .catch((error: unknown) => {
        // The outcome could not be recorded; the lease will expire and the message
        // will be tried again, so nothing is lost.
        this.log.error(
          { err: error, messageId: message.messageId },
          'could not record the outcome of an attempt; it will be retried after its lease expires',
        );
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

  private async deliver(message: ClaimedMessage): Promise<void> {
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
    const context = {
      messageId: message.messageId,
      group: message.group,
      sequence: message.sequence,
      attempt: message.attempt,
      outcome: record.outcome,
      status: record.status,
      durationMs: Math.round(record.durationMs),
    };
    const next =
      record.outcome === 'delivered'
        ? undefined
        : afterFailure(route.retry, message.attempt, this.now(), this.random);
    const recorded =
      next === undefined
        ? this.options.store.markDelivered(message, record)
        : this.options.store.markFailed(message, record, next);
    // Free the slot before the outcome commits: where writes take effect in call order,
    // the claim this triggers is queued behind the outcome (in the same commit, or a
    // later one), so it sees the group's next message, and one commit both settles this
    // attempt and leases that message.
    this.freeSlot(message);
    const kept = await recorded;
    // Elsewhere the claim may have run first and found the group still in flight.
    if (!this.options.store.capabilities.writesInCallOrder) this.kick();
    if (next === undefined) {
      this.log.debug({ ...context, kept }, 'delivered');
    } else if ('deadLetter' in next) {
      this.log.warn(
        { ...context, error: record.error, kept, reason: next.deadLetter },
        'dead-lettered',
      );
    } else {
      this.log.info(
        { ...context, error: record.error, kept, retryAt: new Date(next.retryAt).toISOString() },
        'attempt failed; will retry',
      );
    }
    this.options.onAttempt?.(route, record);
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
      const next = afterFailure(this.route.retry, lease.attempt, now, this.random);
      if (await this.options.store.markFailed(lease, record, next)) {
        this.log.warn(
          { messageId: lease.messageId, group: lease.group, attempt: lease.attempt },
          'lease expired; the message goes round again',
        );
      }
    }
  }

  /** Sleep until the next head is due or the next lease expires, or the poll bound. */
  private async sleep(delayMs?: number): Promise<void> {
    let wait = delayMs ?? this.pollMs;
    if (delayMs === undefined) {
      try {
        const [due, lease] = await Promise.all([
          this.options.store.nextDueAt(this.route.name),
          this.options.store.nextLeaseExpiry(this.route.name),
        ]);
        const now = this.now();
        for (const at of [due, lease]) {
          // A time already past means the route is paused or at its concurrency limit:
          // a resume or a completion will wake it.
          if (at !== null && at > now) wait = Math.min(wait, at - now);
        }
      } catch (error) {
        this.log.error({ err: error }, 'could not read the next due time');
        wait = STORE_ERROR_BACKOFF_MS;
      }
    }
    if (this.stopped || this.pumping) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), wait);
  }
}
