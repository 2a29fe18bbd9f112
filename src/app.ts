import type { AddressInfo } from 'node:net';
import packageJson from '../package.json' with { type: 'json' };
import { Metrics } from './admin/metrics.js';
import { createAdmin } from './admin/server.js';
import { Alerts } from './alerts/alerts.js';
import type { HookqConfig } from './config/types.js';
import { Activity } from './core/activity.js';
import { Dispatcher } from './delivery/dispatcher.js';
import { Forwarder } from './delivery/forwarder.js';
import { RetentionSweeper } from './delivery/retention.js';
import { createIngress } from './ingress/server.js';
import { type Logger, silentLogger } from './log.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';

export interface StartOptions {
  log?: Logger;
  now?: () => number;
  /** How often retention is applied. */
  sweepIntervalMs?: number;
  /** Longest sleep of an idle route's dispatcher without a wake-up event. */
  pollMs?: number;
}

export interface RunningHookq {
  /** Base URL of the ingress listener. */
  ingressUrl: string;
  /** Base URL of the admin listener (API, metrics, health, console). */
  adminUrl: string;
  store: Store;
  metrics: Metrics;
  /**
   * Graceful stop: refuse new webhooks, answer those being received, let attempts in
   * flight finish for up to `graceMs`, then close the store.
   */
  close(graceMs?: number): Promise<void>;
}

/** The pipeline of `hookq serve`: receive → store → deliver, plus retention. */
export async function startHookq(
  config: HookqConfig,
  options: StartOptions = {},
): Promise<RunningHookq> {
  const log = options.log ?? silentLogger();
  const ordering = Object.fromEntries(config.routes.map((route) => [route.name, route.ordering]));
  let metrics: Metrics | undefined;
  const store = await openStore(config.storage, {
    ordering,
    now: options.now,
    log,
    onStaleGroup: (problem) => {
      log.error(
        problem,
        'dropped a group row that pointed at no waiting message; the other groups go on (the messages of that group, if any, need an operator: see the message id)',
      );
      metrics?.staleGroupDropped(problem.route);
    },
  });
  metrics = new Metrics(store, config.routes, options.now);
  const activity = new Activity();
  const forwarder = new Forwarder({
    now: options.now,
    longestTimeoutMs: Math.max(...config.routes.map((route) => route.delivery.timeoutMs)),
  });
  const dispatcher = new Dispatcher({
    store,
    routes: config.routes,
    forwarder,
    log,
    now: options.now,
    pollMs: options.pollMs,
    onAttempt: (route, record) => metrics.attemptRecorded(route, record),
    activity,
  });
  const sweeper = new RetentionSweeper({
    store,
    routes: config.routes,
    log,
    intervalMs: options.sweepIntervalMs,
    onSweep: (route, result) => metrics.swept(route, result),
  });
  const ingress = createIngress({
    store,
    routes: config.routes,
    log,
    metrics,
    activity,
    now: options.now,
  });
  const admin = createAdmin({
    store,
    routes: config.routes,
    metrics,
    log,
    activity,
    onRetryNow: (route) => dispatcher.wake(route),
    token: config.admin.token,
    allowedOrigins: config.admin.allowedOrigins,
    version: packageJson.version,
    now: options.now,
  });

  // Only routes with a `notify` setting are watched; without any this does nothing. The
  // baseline is read before the first webhook is accepted, so that no dead letter made
  // after the start goes unreported as part of it.
  const alerts = new Alerts({
    store,
    routes: config.routes,
    log,
    version: packageJson.version,
    now: options.now,
  });
  await alerts.start();

  try {
    await ingress.listen({ host: config.server.host, port: config.server.port });
    await admin.listen({ host: config.admin.host, port: config.admin.port });
  } catch (error) {
    await ingress.close();
    await alerts.stop();
    await store.close();
    throw error;
  }
  dispatcher.start();
  sweeper.start();

  let closing: Promise<void> | undefined;
  return {
    ingressUrl: urlOf(ingress.server.address() as AddressInfo),
    adminUrl: urlOf(admin.server.address() as AddressInfo),
    store,
    metrics,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        await ingress.close();
        await admin.close();
        // First, so that what the shutdown itself changes is not reported as an alert.
        await alerts.stop();
        const unfinished = await dispatcher.stop(graceMs);
        if (unfinished > 0) {
          log.warn(
            { unfinished },
            'attempts still in flight at shutdown; they will be delivered again after a restart',
          );
        }
        await sweeper.stop();
        await forwarder.close();
        await store.close();
      })();
      return closing;
    },
  };
}

function urlOf(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}
