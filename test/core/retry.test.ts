import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AttemptCount,
  afterFailure,
  backoffDelayMs,
  type RetryPolicy,
} from '../../src/core/retry.js';

const policy = { initialMs: 1_000, maxMs: 60_000, multiplier: 2, jitter: 0.2 };

/** A random source that always draws `value`: 0.5 is no jitter, 0 and 1 its extremes. */
const always = (value: number) => () => value;

/** What follows an attempt that failed at 10 s, with no jitter. */
function afterFailureAt10s(retry: RetryPolicy, count: AttemptCount, minDelayMs?: number) {
  return afterFailure(retry, count, 10_000, always(0.5), minDelayMs);
}

describe('retry schedule', () => {
  it('grows exponentially from the initial delay and stops at the cap', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelayMs(policy, n, always(0.5))),
      [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000],
    );
  });

  it('spreads delays by the jitter fraction either way, never past the cap', () => {
    assert.equal(backoffDelayMs(policy, 2, always(0)), 1_600);
    assert.equal(backoffDelayMs(policy, 2, always(1)), 2_400);
    assert.equal(backoffDelayMs(policy, 20, always(1)), 60_000);
    assert.equal(backoffDelayMs(policy, 20, always(0)), 48_000);
  });

  it('retries until maxAttempts, then dead-letters with the count in the reason', () => {
    const retry = { maxAttempts: 3, backoff: policy };
    assert.deepEqual(afterFailureAt10s(retry, { attempt: 1, charged: 1 }), { retryAt: 11_000 });
    assert.deepEqual(afterFailureAt10s(retry, { attempt: 2, charged: 2 }), { retryAt: 12_000 });
    assert.deepEqual(afterFailureAt10s(retry, { attempt: 3, charged: 3 }), {
      deadLetter: 'failed 3 of 3 attempts',
    });
  });

  it('backs off with every attempt but dead-letters only after maxAttempts charged ones', () => {
    const retry = { maxAttempts: 2, backoff: policy };
    assert.deepEqual(afterFailureAt10s(retry, { attempt: 5, charged: 1 }), { retryAt: 26_000 });
    assert.deepEqual(afterFailureAt10s(retry, { attempt: 5, charged: 2 }), {
      deadLetter: 'failed 2 of 2 attempts (5 tries in all)',
    });
  });

  it('waits at least as long as the target asked', () => {
    const retry = { maxAttempts: 3, backoff: policy };
    assert.deepEqual(afterFailureAt10s(retry, { attempt: 1, charged: 0 }, 30_000), {
      retryAt: 40_000,
    });
  });

  it('dead-letters at once when only one attempt is allowed', () => {
    assert.ok(
      'deadLetter' in
        afterFailure({ maxAttempts: 1, backoff: policy }, { attempt: 1, charged: 1 }, 0),
    );
  });
});
