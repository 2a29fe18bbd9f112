import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterFailure, backoffDelayMs } from '../../src/core/retry.js';

const policy = { initialMs: 1_000, maxMs: 60_000, multiplier: 2, jitter: 0.2 };

describe('retry schedule', () => {
  it('grows exponentially from the initial delay and stops at the cap', () => {
    const middle = () => 0.5; // no jitter
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelayMs(policy, n, middle)),
      [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000],
    );
  });

  it('spreads delays by the jitter fraction either way, never past the cap', () => {
    assert.equal(
      backoffDelayMs(policy, 2, () => 0),
      1_600,
    );
    assert.equal(
      backoffDelayMs(policy, 2, () => 1),
      2_400,
    );
    assert.equal(
      backoffDelayMs(policy, 20, () => 1),
      60_000,
    );
    assert.equal(
      backoffDelayMs(policy, 20, () => 0),
      48_000,
    );
  });

  it('retries until maxAttempts, then dead-letters with the count in the reason', () => {
    const retry = { maxAttempts: 3, backoff: policy };
    assert.deepEqual(
      afterFailure(retry, { attempt: 1, charged: 1 }, 10_000, () => 0.5),
      { retryAt: 11_000 },
    );
    assert.deepEqual(
      afterFailure(retry, { attempt: 2, charged: 2 }, 10_000, () => 0.5),
      { retryAt: 12_000 },
    );
    assert.deepEqual(
      afterFailure(retry, { attempt: 3, charged: 3 }, 10_000, () => 0.5),
      { deadLetter: 'failed 3 of 3 attempts' },
    );
  });

  it('backs off with every attempt but dead-letters only after maxAttempts charged ones', () => {
    const retry = { maxAttempts: 2, backoff: policy };
    assert.deepEqual(
      afterFailure(retry, { attempt: 5, charged: 1 }, 10_000, () => 0.5),
      { retryAt: 26_000 },
    );
    assert.deepEqual(
      afterFailure(retry, { attempt: 5, charged: 2 }, 10_000, () => 0.5),
      {
        deadLetter: 'failed 2 of 2 attempts (5 tries in all)',
      },
    );
  });

  it('waits at least as long as the target asked', () => {
    const retry = { maxAttempts: 3, backoff: policy };
    assert.deepEqual(
      afterFailure(retry, { attempt: 1, charged: 0 }, 10_000, () => 0.5, 30_000),
      { retryAt: 40_000 },
    );
  });

  it('dead-letters at once when only one attempt is allowed', () => {
    assert.ok(
      'deadLetter' in
        afterFailure({ maxAttempts: 1, backoff: policy }, { attempt: 1, charged: 1 }, 0),
    );
  });
});
