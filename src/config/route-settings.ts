/**
 * The settings every route has, the built-in values of SPEC §3, and how `defaults` and a
 * route's own keys are layered over them: mappings merge key by key, lists replace.
 */
import type { DedupRule } from '../core/dedup.js';
import type { BreakerPolicy } from '../core/outage.js';
import { formatDuration } from '../core/units.js';
import type { Problem } from './problems.js';
import type { RouteSettingsInput } from './schema.js';
import type { RouteConfig } from './types.js';

export type RouteSettings = Pick<
  RouteConfig,
  'maxBodyBytes' | 'ordering' | 'dedup' | 'retry' | 'delivery' | 'retention' | 'forwardHeaders'
>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * What a route gets when neither it nor `defaults` says otherwise. Never handed out:
 * merging copies it, so no loaded configuration can change it.
 */
export const BUILT_IN_ROUTE_SETTINGS: RouteSettings = {
  maxBodyBytes: 1024 * 1024,
  ordering: 'strict',
  dedup: { by: 'content', windowMs: 5 * MINUTE },
  retry: {
    maxAttempts: 10,
    backoff: { initialMs: 1000, maxMs: 5 * MINUTE, multiplier: 2, jitter: 0.2 },
  },
  delivery: {
    timeoutMs: 30_000,
    maxConcurrency: 16,
    maxPerSecond: undefined,
    breaker: { after: 3, probeInitialMs: 1000, probeMaxMs: 30_000 },
  },
  retention: { queuedMs: 4 * DAY, deadLetterMs: 4 * DAY, deliveredMs: 24 * HOUR },
  forwardHeaders: 'all',
};

/** `own` over `base`. Every object is new, so no two routes share anything mutable. */
export function mergeRouteSettings(base: RouteSettings, own: RouteSettingsInput): RouteSettings {
  const backoff = own.retry?.backoff;
  const forwardHeaders = own.forwardHeaders ?? base.forwardHeaders;
  return {
    maxBodyBytes: own.maxBodyBytes ?? base.maxBodyBytes,
    ordering: own.ordering ?? base.ordering,
    dedup: {
      ...(own.dedup?.by ?? dedupRule(base.dedup)),
      windowMs: own.dedup?.window ?? base.dedup.windowMs,
    },
    retry: {
      maxAttempts: own.retry?.maxAttempts ?? base.retry.maxAttempts,
      backoff: {
        initialMs: backoff?.initial ?? base.retry.backoff.initialMs,
        maxMs: backoff?.max ?? base.retry.backoff.maxMs,
        multiplier: backoff?.multiplier ?? base.retry.backoff.multiplier,
        jitter: backoff?.jitter ?? base.retry.backoff.jitter,
      },
    },
    delivery: {
      timeoutMs: own.delivery?.timeout ?? base.delivery.timeoutMs,
      maxConcurrency: own.delivery?.maxConcurrency ?? base.delivery.maxConcurrency,
      maxPerSecond: own.delivery?.maxPerSecond ?? base.delivery.maxPerSecond,
      breaker: mergeBreaker(base.delivery.breaker, own.delivery?.breaker),
    },
    retention: {
      queuedMs: own.retention?.queued ?? base.retention.queuedMs,
      deadLetterMs: own.retention?.deadLetter ?? base.retention.deadLetterMs,
      deliveredMs: own.retention?.delivered ?? base.retention.deliveredMs,
    },
    forwardHeaders: forwardHeaders === 'all' ? 'all' : [...forwardHeaders],
  };
}

/** `off` switches the breaker off; a mapping merges over the inherited settings (or the built-in ones, under an inherited `off`). */
function mergeBreaker(
  base: BreakerPolicy | null,
  own: NonNullable<RouteSettingsInput['delivery']>['breaker'],
): BreakerPolicy | null {
  if (own === undefined) return base === null ? null : { ...base };
  if (own === 'off') return null;
  const inherited = base ?? BUILT_IN_ROUTE_SETTINGS.delivery.breaker!;
  return {
    after: own.after ?? inherited.after,
    probeInitialMs: own.probe?.initial ?? inherited.probeInitialMs,
    probeMaxMs: own.probe?.max ?? inherited.probeMaxMs,
  };
}

function dedupRule(dedup: RouteSettings['dedup']): DedupRule {
  return dedup.by === 'header' ? { by: 'header', header: dedup.header } : { by: dedup.by };
}

/**
 * Rules that involve two keys, checked once the levels are merged. A problem is reported
 * at the level that set one of the keys (`prefix` is `defaults` or `routes[i]`), so a bad
 * `defaults` is reported once rather than again for every route that inherits it.
 */
export function checkRouteSettings(
  settings: RouteSettings,
  own: RouteSettingsInput,
  prefix: string,
): Problem[] {
  const problems: Problem[] = [];
  const { initialMs, maxMs } = settings.retry.backoff;
  const backoff = own.retry?.backoff;
  if (maxMs < initialMs) {
    if (backoff?.max !== undefined) {
      problems.push({
        key: `${prefix}.retry.backoff.max`,
        message: `must be at least retry.backoff.initial, ${formatDuration(initialMs)} (got ${formatDuration(maxMs)})`,
      });
    } else if (backoff?.initial !== undefined) {
      problems.push({
        key: `${prefix}.retry.backoff.initial`,
        message: `must be at most retry.backoff.max, ${formatDuration(maxMs)} (got ${formatDuration(initialMs)})`,
      });
    }
  }
  const breaker = settings.delivery.breaker;
  const probe = own.delivery?.breaker === 'off' ? undefined : own.delivery?.breaker?.probe;
  if (breaker !== null && breaker.probeMaxMs < breaker.probeInitialMs && probe !== undefined) {
    problems.push(
      probe.max !== undefined
        ? {
            key: `${prefix}.delivery.breaker.probe.max`,
            message: `must be at least delivery.breaker.probe.initial, ${formatDuration(breaker.probeInitialMs)} (got ${formatDuration(breaker.probeMaxMs)})`,
          }
        : {
            key: `${prefix}.delivery.breaker.probe.initial`,
            message: `must be at most delivery.breaker.probe.max, ${formatDuration(breaker.probeMaxMs)} (got ${formatDuration(breaker.probeInitialMs)})`,
          },
    );
  }
  if (settings.dedup.by !== 'none' && settings.dedup.windowMs === 0) {
    if (own.dedup?.window !== undefined) {
      problems.push({
        key: `${prefix}.dedup.window`,
        message: 'must be greater than 0 unless dedup.by is none (got 0ms)',
      });
    } else if (own.dedup?.by !== undefined) {
      problems.push({
        key: `${prefix}.dedup.by`,
        message: `needs a dedup.window greater than 0, but the window set in defaults is 0ms`,
      });
    }
  }
  return problems;
}
