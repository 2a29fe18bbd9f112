import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RouteConfig } from '../config/types.js';
import type { IngressCounters, RejectReason } from '../ingress/server.js';
import type { AttemptRecord, Store, SweepResult } from '../store/store.js';

/**
 * hookq's Prometheus metrics. Counters move as messages flow; the queue gauges are read
 * from the store when scraped, so they are right for every instance on a shared store.
 */
export class Metrics implements IngressCounters {
  readonly registry = new Registry();
  private readonly received: Counter<'route'>;
  private readonly duplicates: Counter<'route'>;
  private readonly rejected: Counter<'route' | 'reason'>;
  private readonly deliveries: Counter<'route' | 'outcome'>;
  private readonly duration: Histogram<'route'>;
  private readonly expired: Counter<'route'>;
  private readonly deadLettersDeleted: Counter<'route' | 'by'>;
  private readonly staleGroups: Counter<'route'>;
  private readonly staleSinceStart = new Map<string, number>();

  constructor(store: Store, routes: readonly RouteConfig[], now: () => number = Date.now) {
    const registers = [this.registry];
    this.received = new Counter({
      name: 'hookq_messages_received_total',
      help: 'Webhooks accepted and stored (duplicates not included).',
      labelNames: ['route'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'hookq_messages_duplicate_total',
      help: 'Webhooks answered as duplicates of a message within the dedup window.',
      labelNames: ['route'],
      registers,
    });
    this.rejected = new Counter({
      name: 'hookq_messages_rejected_total',
      help: 'Webhooks turned away, by reason.',
      labelNames: ['route', 'reason'],
      registers,
    });
    this.deliveries = new Counter({
      name: 'hookq_deliveries_total',
      help: 'Delivery attempts, by outcome.',
      labelNames: ['route', 'outcome'],
      registers,
    });
    this.duration = new Histogram({
      name: 'hookq_delivery_duration_seconds',
      help: 'Duration of delivery attempts.',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.expired = new Counter({
      name: 'hookq_messages_expired_total',
      help: 'Queued messages that outlived retention.queued and became dead letters.',
      labelNames: ['route'],
      registers,
    });
    this.deadLettersDeleted = new Counter({
      name: 'hookq_dead_letters_deleted_total',
      help: 'Dead letters deleted, by an operator or after retention.deadLetter.',
      labelNames: ['route', 'by'],
      registers,
    });

    this.staleGroups = new Counter({
      name: 'hookq_stale_groups_total',
      help: 'Group rows a claim could not lease and dropped so that the route goes on.',
      labelNames: ['route'],
      registers,
    });

    const names = routes.map((route) => route.name);
    // One store read serves all three queue gauges of a scrape; prom-client awaits
    // each gauge's collect() before reading it.
    let pending: Promise<void> | undefined;
    const refresh = (): Promise<void> => {
      pending ??= store
        .routeStats(names)
        .then((stats) => {
          for (const s of stats) {
            for (const state of ['queued', 'inflight', 'dead', 'delivered'] as const) {
              messages.set({ route: s.route, state }, s[state]);
            }
            blocked.set({ route: s.route }, s.blockedGroups);
            targetUp.set({ route: s.route }, s.health.state === 'up' ? 1 : 0);
            oldest.set(
              { route: s.route },
              s.oldestWaitingAt === null ? 0 : Math.max(0, (now() - s.oldestWaitingAt) / 1000),
            );
          }
        })
        .finally(() => {
          pending = undefined;
        });
      return pending;
    };
    const messages = new Gauge({
      name: 'hookq_messages',
      help: 'Stored messages, by state.',
      labelNames: ['route', 'state'],
      registers,
      collect: refresh,
    });
    const blocked = new Gauge({
      name: 'hookq_blocked_groups',
      help: 'Groups held by a dead letter (strict ordering).',
      labelNames: ['route'],
      registers,
      collect: refresh,
    });
    const targetUp = new Gauge({
      name: 'hookq_target_up',
      help: "1 while the route's target takes deliveries, 0 while it is down and only probed.",
      labelNames: ['route'],
      registers,
      collect: refresh,
    });
    const oldest = new Gauge({
      name: 'hookq_oldest_message_age_seconds',
      help: 'Age of the oldest message waiting for delivery (0 when none waits).',
      labelNames: ['route'],
      registers,
      collect: refresh,
    });
  }

  messageReceived(route: string): void {
    this.received.inc({ route });
  }

  duplicateReceived(route: string): void {
    this.duplicates.inc({ route });
  }

  messageRejected(route: string, reason: RejectReason): void {
    this.rejected.inc({ route, reason });
  }

  attemptRecorded(route: RouteConfig, record: AttemptRecord): void {
    // lease_expired is not a delivery outcome the target saw; it is counted as lost.
    const outcome = record.outcome === 'lease_expired' ? 'network_error' : record.outcome;
    this.deliveries.inc({ route: route.name, outcome });
    this.duration.observe({ route: route.name }, record.durationMs / 1000);
  }

  swept(route: RouteConfig, result: SweepResult): void {
    if (result.expired.length) this.expired.inc({ route: route.name }, result.expired.length);
    if (result.deadLettersDeleted.length) {
      this.deadLettersDeleted.inc(
        { route: route.name, by: 'retention' },
        result.deadLettersDeleted.length,
      );
    }
  }

  staleGroupDropped(route: string): void {
    this.staleGroups.inc({ route });
    this.staleSinceStart.set(route, this.staleGroupsDropped(route) + 1);
  }

  /** Group rows of a route dropped as stale since this process started, for the route view. */
  staleGroupsDropped(route: string): number {
    return this.staleSinceStart.get(route) ?? 0;
  }

  deadLetterDiscarded(route: string): void {
    this.deadLettersDeleted.inc({ route, by: 'operator' });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
