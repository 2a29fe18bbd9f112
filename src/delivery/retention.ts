import type { Logger } from 'pino';
import type { RouteConfig } from '../config/types.js';
import type { Store, SweepResult } from '../store/store.js';

/** Most messages of each kind handled by one sweep call: keeps each transaction short. */
const SWEEP_PAGE = 1_000;
/** Most pages per route per pass: a huge backlog is worked off over several passes. */
const PAGES_PER_PASS = 20;

export interface RetentionOptions {
  store: Store;
  routes: readonly RouteConfig[];
  log: Logger;
  intervalMs?: number;
  /** Told of each sweep's result, for metrics. */
  onSweep?: (route: RouteConfig, result: SweepResult) => void;
}

/**
 * Applies each route's retention on a timer: queued messages past `retention.queued`
 * become dead letters, and dead letters and delivered history past their windows are
 * deleted. Every expiry and every dead-letter deletion is logged with the message id.
 */
export class RetentionSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    const interval = this.options.intervalMs ?? 60_000;
    const tick = () => {
      // One pass at a time: a pass longer than the interval would otherwise overlap the
      // next, and its `finally` would clear `running` under it, so stop() would not wait
      // for a pass still writing to the store it is about to close.
      if (this.running) return;
      this.running = this.sweepAll().finally(() => {
        this.running = undefined;
      });
    };
    this.timer = setInterval(tick, interval);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass over every route. */
  async sweepAll(): Promise<void> {
    for (const route of this.options.routes) {
      try {
        await this.sweepRoute(route);
      } catch (error) {
        this.options.log.error(
          { err: error, route: route.name },
          'retention sweep failed; will try again',
        );
      }
    }
  }

  private async sweepRoute(route: RouteConfig): Promise<void> {
    const log = this.options.log.child({ route: route.name });
    for (let page = 0; page < PAGES_PER_PASS; page++) {
      const result = await this.options.store.sweep(route.name, route.retention, SWEEP_PAGE);
      for (const message of result.expired) {
        log.warn(
          {
            messageId: message.id,
            group: message.group,
            sequence: message.sequence,
            reason: message.deadReason,
          },
          'message expired into the dead-letter queue',
        );
      }
      for (const message of result.deadLettersDeleted) {
        log.warn(
          {
            messageId: message.id,
            group: message.group,
            sequence: message.sequence,
            deadReason: message.deadReason,
          },
          'dead letter deleted: older than retention.deadLetter',
        );
      }
      if (result.deliveredDeleted > 0) {
        log.info(
          { count: result.deliveredDeleted },
          'delivered history deleted: older than retention.delivered',
        );
      }
      this.options.onSweep?.(route, result);
      const full = Math.max(
        result.expired.length,
        result.deadLettersDeleted.length,
        result.deliveredDeleted,
      );
      if (full < SWEEP_PAGE) return;
    }
  }
}
