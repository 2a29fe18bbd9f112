import type { Logger } from '../log.js';
import type { RouteStats, Store } from '../store/store.js';
import { type AlertEvent, alertsBetween } from './events.js';

/** The store role whose holder reads the routes and sends the alerts. */
const ALERTS_ROLE = 'alerts';

export interface WatchOptions {
  store: Store;
  /** The routes to watch, by name. */
  routes: readonly string[];
  checkEveryMs: number;
  /** Where each alert goes; must not block (Notifier.send only queues). */
  onAlert: (event: AlertEvent) => void;
  log: Logger;
  now?: () => number;
}

/**
 * Reads the routes' counts and health from the store every `checkEveryMs` and reports
 * what changed between two reads (events.ts).
 *
 * Polling the store, rather than listening to this process's dispatcher, is what makes
 * alerts right on PostgreSQL with several instances: the breaker state and the counts
 * live in the database, so a target another instance found down, or dead letters
 * another instance made, are seen too. Only the instance that holds the store's
 * `alerts` role reads and sends, so a receiver gets each event once; the others stand
 * by, and the one that takes the role over starts from a baseline of its own, as after
 * a restart. A change that is undone within one interval may go unseen.
 */
export class AlertWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private previous: Map<string, RouteStats> | undefined;
  /** Whether the last read failed, so that a store outage is logged once, not every interval. */
  private failing = false;
  /** Whether this instance held the alerts role at the last read; undefined before the first. */
  private holding: boolean | undefined;

  constructor(private readonly options: WatchOptions) {}

  /**
   * The first read happens now and sets the baseline; it resolves once that read is done,
   * so that a caller can take the baseline before any webhook is accepted.
   */
  async start(): Promise<void> {
    this.check();
    await this.running;
  }

  /** No read after this; waits for one under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One read at a time: the next is scheduled only once this one is done. */
  private check(): void {
    this.running = this.read()
      // A fault of hookq's own must not end the process through an unhandled rejection.
      .catch((error) => this.options.log.error({ err: error }, 'alerts: a check failed'))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        this.timer = setTimeout(() => this.check(), this.options.checkEveryMs);
        this.timer.unref();
      });
  }

  private async read(): Promise<void> {
    const { store, routes, log } = this.options;
    let stats: RouteStats[];
    try {
      if (!(await store.holdsRole(ALERTS_ROLE))) {
        this.standBy();
        return;
      }
      stats = await store.routeStats(routes);
    } catch (error) {
      if (!this.failing) {
        log.warn({ err: error }, 'alerts: cannot read the routes from the store; will try again');
      }
      this.failing = true;
      return;
    }
    if (this.failing) log.info('alerts: reading the routes from the store again');
    this.failing = false;
    if (this.holding === false) log.info('alerts: this instance sends them now');
    this.holding = true;
    const now = (this.options.now ?? Date.now)();
    const previous = this.previous;
    for (const current of stats) {
      for (const event of alertsBetween(previous?.get(current.route), current, now)) {
        this.options.onAlert(event);
      }
    }
    this.previous = new Map(stats.map((s) => [s.route, s]));
  }

  /** Another instance sends the alerts: forget what was seen, and say so once. */
  private standBy(): void {
    if (this.holding !== false) {
      this.options.log.info('alerts: another instance sends them; this one takes over if it stops');
    }
    this.holding = false;
    this.previous = undefined;
  }
}
