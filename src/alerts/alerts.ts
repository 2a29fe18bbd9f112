import type { NotifyConfig, RouteConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';
import { Notifier } from './notifier.js';
import { AlertWatcher } from './watch.js';

export interface AlertsOptions {
  store: Store;
  routes: readonly RouteConfig[];
  log: Logger;
  /** hookq's version, for the User-Agent of alert requests. */
  version: string;
  now?: () => number;
}

/**
 * The alerts of a running hookq: routes with the same `notify` settings (most often the
 * top-level one) share one watcher, which reads them from the store in one call, and one
 * notifier, which sends their alerts in the order they were seen.
 */
export class Alerts {
  private readonly pairs: Array<{ watcher: AlertWatcher; notifier: Notifier }> = [];

  constructor(options: AlertsOptions) {
    const bySettings = new Map<string, { notify: NotifyConfig; routes: string[] }>();
    for (const route of options.routes) {
      if (route.notify === undefined) continue;
      const key = JSON.stringify(route.notify);
      const entry = bySettings.get(key) ?? { notify: route.notify, routes: [] };
      entry.routes.push(route.name);
      bySettings.set(key, entry);
    }
    for (const { notify, routes } of bySettings.values()) {
      const notifier = new Notifier({
        url: notify.url,
        headers: notify.headers,
        timeoutMs: notify.timeoutMs,
        retries: notify.retries,
        userAgent: `hookq/${options.version}`,
        log: options.log,
      });
      const watcher = new AlertWatcher({
        store: options.store,
        routes,
        checkEveryMs: notify.checkEveryMs,
        onAlert: (event) => notifier.send(event),
        log: options.log,
        now: options.now,
      });
      this.pairs.push({ watcher, notifier });
    }
  }

  /** Resolves once every watcher has its baseline. */
  async start(): Promise<void> {
    await Promise.all(this.pairs.map(({ watcher }) => watcher.start()));
  }

  /** Stop reading, then drop what is still unsent: alerts are best effort, never a reason to wait. */
  async stop(): Promise<void> {
    await Promise.all(this.pairs.map(({ watcher }) => watcher.stop()));
    await Promise.all(this.pairs.map(({ notifier }) => notifier.close()));
  }
}
