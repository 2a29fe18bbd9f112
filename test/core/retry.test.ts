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
      afterFailure(retry, 1, 10_000, () => 0.5),
      { retryAt: 11_000 },
    );
    assert.deepEqual(
      afterFailure(retry, 2, 10_000, () => 0.5),
      { retryAt: 12_000 },
    );
    assert.deepEqual(
      afterFailure(retry, 3, 10_000, () => 0.5),
      { deadLetter: 'failed 3 of 3 attempts' },
    );
  });

  it('dead-letters at once when only one attempt is allowed', () => {
    assert.ok('deadLetter' in afterFailure({ maxAttempts: 1, backoff: policy }, 1, 0));
  });
});
