/**
 * Alerts: the events hookq POSTs to a `notify` receiver when a route changes in a way a
 * person may have to act on. Each is a transition between two reads of the route's
 * counts and health, never a state repeated:
 *
 * target.down        the route's breaker opened: the target is unreachable, only probed.
 * target.up          a probe got through: deliveries resume.
 * route.stuck        messages wait but nothing can move them: the target is down, or
 *                    every waiting group is held by a dead letter (see routeState).
 * route.unstuck      the route left that state (delivering, idle or paused now).
 * deadletters.added  the route's dead-letter count grew since the previous read; one
 *                    event for all of them, never one per dead letter.
 *
 * Pure: the reads and the time are parameters.
 */
import { type RouteStats, routeState } from '../store/store.js';

interface EventBase {
  route: string;
  /** When hookq saw the change, RFC 3339. */
  at: string;
  /** One line for people, for chat tools that show a `text` field. */
  text: string;
}

export type AlertEvent = EventBase &
  (
    | {
        type: 'target.down';
        /** When the target went down, RFC 3339. */
        since: string | null;
        lastError: string | null;
        queued: number;
        /** A probe may be in flight when the outage is noticed. */
        inflight: number;
      }
    | {
        type: 'target.up';
        /** When the target came back, RFC 3339. */
        since: string | null;
        /** When it had gone down, RFC 3339. */
        downSince: string | null;
      }
    | {
        type: 'route.stuck';
        why: 'target down' | 'groups blocked';
        queued: number;
        inflight: number;
        blockedGroups: number;
        oldestAgeSeconds: number | null;
      }
    | {
        type: 'route.unstuck';
        state: 'delivering' | 'idle' | 'paused';
        queued: number;
        blockedGroups: number;
      }
    | {
        type: 'deadletters.added';
        /** Growth of the count since the previous read (at least this many were added). */
        added: number;
        /** Dead letters the route holds now. */
        total: number;
      }
  );

export type AlertType = AlertEvent['type'];

/**
 * The events between two reads of a route. `previous` undefined is the first read after
 * start: it sets the baseline, except that a target already down or a route already
 * stuck is reported (once), since it is something to act on, and a restart must not
 * hide it. Dead letters already there at start are not new and are not reported.
 */
export function alertsBetween(
  previous: RouteStats | undefined,
  current: RouteStats,
  now: number,
): AlertEvent[] {
  const route = current.route;
  const at = iso(now);
  const events: AlertEvent[] = [];
  const wasDown = previous?.health.state === 'down';
  const isDown = current.health.state === 'down';
  if (isDown && !wasDown) {
    const { lastError } = current.health;
    events.push({
      type: 'target.down',
      route,
      at,
      since: isoOrNull(current.health.since),
      lastError,
      queued: current.queued,
      inflight: current.inflight,
      text: `hookq: the target of route ${route} is down${lastError ? ` (${lastError})` : ''}; deliveries are held and probed`,
    });
  } else if (wasDown && !isDown) {
    events.push({
      type: 'target.up',
      route,
      at,
      since: isoOrNull(current.health.since),
      downSince: isoOrNull(previous.health.since),
      text: `hookq: the target of route ${route} is up again; deliveries resume`,
    });
  }

  const wasStuck = previous !== undefined && routeState(previous) === 'stuck';
  const state = routeState(current);
  if (state === 'stuck' && !wasStuck) {
    const why = isDown ? 'target down' : 'groups blocked';
    events.push({
      type: 'route.stuck',
      route,
      at,
      why,
      queued: current.queued,
      inflight: current.inflight,
      blockedGroups: current.blockedGroups,
      oldestAgeSeconds:
        current.oldestWaitingAt === null
          ? null
          : Math.max(0, Math.round((now - current.oldestWaitingAt) / 1000)),
      text: `hookq: route ${route} is stuck (${why}): ${current.queued} messages wait`,
    });
  } else if (state !== 'stuck' && wasStuck) {
    events.push({
      type: 'route.unstuck',
      route,
      at,
      state,
      queued: current.queued,
      blockedGroups: current.blockedGroups,
      text: `hookq: route ${route} is no longer stuck (${state})`,
    });
  }

  if (previous !== undefined && current.dead > previous.dead) {
    const added = current.dead - previous.dead;
    events.push({
      type: 'deadletters.added',
      route,
      at,
      added,
      total: current.dead,
      text: `hookq: ${added} new dead ${added === 1 ? 'letter' : 'letters'} on route ${route} (${current.dead} in all)`,
    });
  }
  return events;
}

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));
