/**
 * The retry schedule: exponential backoff with a multiplier, a cap and jitter.
 * Pure: the clock and the random source are parameters.
 */

export interface BackoffPolicy {
  /** Delay before the second attempt. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Each further delay is the previous one times this. */
  multiplier: number;
  /** Spread in [0, 1]: a delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

export interface RetryPolicy {
  /** Attempts before the message is dead-lettered; at least 1. */
  maxAttempts: number;
  backoff: BackoffPolicy;
}

/**
 * The delay after the `failedAttempts`-th consecutive failure (1-based). Jitter spreads
 * retries so that a recovering target is not hit by every group at the same instant.
 */
export function backoffDelayMs(
  policy: BackoffPolicy,
  failedAttempts: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, failedAttempts - 1);
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** exponent);
  const factor = 1 + policy.jitter * (2 * random() - 1);
  return Math.round(Math.min(policy.maxMs, Math.max(0, base * factor)));
}

/**
 * What happens after a failed attempt: try again at `retryAt`, or dead-letter with a
 * reason. `charged: false` marks an attempt made while the target was unavailable (SPEC
 * §5a): it does not count toward `maxAttempts`, and the message waits only for the
 * outage, so it becomes due as soon as the target is back. Both default as for a
 * rejection: charged, not held.
 */
export type AfterFailure =
  | { retryAt: number; charged?: boolean; heldByOutage?: boolean }
  | { deadLetter: string };

/** A message's attempts so far, the failed one included. */
export interface AttemptCount {
  /** Attempts since acceptance or the last redrive: the backoff grows with these. */
  attempt: number;
  /** Those that counted toward `maxAttempts`. */
  charged: number;
}

/**
 * Decide the next step after a failed attempt. The backoff grows with every attempt, so
 * that even uncharged ones space out; only charged ones lead to the dead-letter queue.
 * `minDelayMs` is the target's own `Retry-After`, already capped.
 */
export function afterFailure(
  policy: RetryPolicy,
  count: AttemptCount,
  now: number,
  random: () => number = Math.random,
  minDelayMs = 0,
): { retryAt: number } | { deadLetter: string } {
  if (count.charged >= policy.maxAttempts) {
    const tries = count.attempt > count.charged ? ` (${count.attempt} tries in all)` : '';
    return { deadLetter: `failed ${count.charged} of ${policy.maxAttempts} attempts${tries}` };
  }
  const delay = Math.max(minDelayMs, backoffDelayMs(policy.backoff, count.attempt, random));
  return { retryAt: now + delay };
}
