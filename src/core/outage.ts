/**
 * Outages of the target (SPEC §5a): which failures mean "the application is away" rather
 * than "this message is bad", and the per-route breaker that holds deliveries while it
 * is away and probes until it is back. Pure: times are parameters.
 *
 * unavailable  the target could not be reached or said it cannot take work now:
 *              connection refused or reset, DNS failure, timeout, 429, 502, 503, 504.
 * rejection    any other non-2xx answer: the target is there and refused this message.
 * down         the breaker's state after `after` unavailable attempts in a row on a
 *              route: only one probe at a time goes out, at growing intervals.
 * probe        the one attempt made while the target is down; when it gets through the
 *              target is up again and the groups held by the outage become due at once.
 */
import type { AttemptOutcome } from './terms.js';

/** `breaker` of a route's delivery settings; null is `breaker: off`. */
export interface BreakerPolicy {
  /** Unavailable attempts in a row, whatever their groups, that make the target down. */
  after: number;
  /** Wait before the first probe. */
  probeInitialMs: number;
  /** Probe intervals double up to this. */
  probeMaxMs: number;
}

/** What the store keeps per route, shared by every instance on a shared store. */
export interface TargetHealth {
  state: 'up' | 'down';
  /** When the current state began; null while the route has never been down. */
  since: number | null;
  /** Unavailable attempts in a row. */
  failures: number;
  /** The latest unavailable attempt's error. */
  lastError: string | null;
  /** While down: when the next probe may start. */
  nextProbeAt: number | null;
  /** While down: the current probe interval, doubling up to probeMaxMs. */
  probeIntervalMs: number | null;
}

export const HEALTHY: TargetHealth = {
  state: 'up',
  since: null,
  failures: 0,
  lastError: null,
  nextProbeAt: null,
  probeIntervalMs: null,
};

const UNAVAILABLE_STATUSES = new Set([429, 502, 503, 504]);

/** Whether a failed attempt means the target is away (not charged during an outage). */
export function isUnavailable(attempt: {
  outcome: AttemptOutcome;
  status: number | null;
}): boolean {
  if (attempt.outcome === 'timeout' || attempt.outcome === 'network_error') return true;
  return attempt.outcome === 'http_error' && UNAVAILABLE_STATUSES.has(attempt.status ?? 0);
}

/** Statuses whose `Retry-After` hookq honours. */
export function honoursRetryAfter(status: number | null): boolean {
  return status === 429 || status === 503;
}

/**
 * `Retry-After` as a delay in milliseconds: delay-seconds or an HTTP date (RFC 9110
 * §10.2.3). Undefined when it is neither; a date in the past is no delay.
 */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the date forms: Date.parse also takes bare numbers and other shapes.
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** How one attempt ended, as the breaker sees it. */
export type TargetEvent =
  | { kind: 'answered' }
  | {
      kind: 'unavailable';
      error: string;
      /** This attempt was the probe. */
      probe: boolean;
      /** The target's own `Retry-After`, as a time, already capped. */
      retryAt?: number;
    };

/**
 * The breaker's next state after an attempt. Any answer that is not "unavailable" (a
 * 2xx, or a rejection of one message) shows the target is there: it is up.
 */
export function nextHealth(
  health: TargetHealth,
  event: TargetEvent,
  policy: BreakerPolicy | null,
  now: number,
): TargetHealth {
  if (event.kind === 'answered') {
    if (health.state === 'up') return health.failures === 0 ? health : { ...health, failures: 0 };
    return { ...HEALTHY, since: now };
  }
  const failures = health.failures + 1;
  if (health.state === 'up') {
    if (policy === null || failures < policy.after) {
      return { ...health, failures, lastError: event.error };
    }
    return {
      state: 'down',
      since: now,
      failures,
      lastError: event.error,
      nextProbeAt: Math.max(now + policy.probeInitialMs, event.retryAt ?? 0),
      probeIntervalMs: policy.probeInitialMs,
    };
  }
  // Down already. An attempt that was in flight when the target went down changes
  // nothing but the error; a failed probe doubles the interval.
  if (!event.probe || policy === null) return { ...health, failures, lastError: event.error };
  const interval = Math.min(
    policy.probeMaxMs,
    (health.probeIntervalMs ?? policy.probeInitialMs) * 2,
  );
  return {
    ...health,
    failures,
    lastError: event.error,
    probeIntervalMs: interval,
    nextProbeAt: event.retryAt ?? now + interval,
  };
}
