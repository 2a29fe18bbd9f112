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

/** What happens after a failed attempt: try again at `retryAt`, or dead-letter with a reason. */
export type AfterFailure = { retryAt: number } | { deadLetter: string };

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

/** Decide the next step after a failed attempt; `attempts` includes the one that just failed. */
export function afterFailure(
  policy: RetryPolicy,
  attempts: number,
  now: number,
  random: () => number = Math.random,
): AfterFailure {
  if (attempts >= policy.maxAttempts) {
    return { deadLetter: `failed ${attempts} of ${policy.maxAttempts} attempts` };
  }
  return { retryAt: now + backoffDelayMs(policy.backoff, attempts, random) };
}
