import type { AttemptRecord } from '../src/store/store.js';

/** The record of an attempt the target took at once, as the store benchmarks settle them. */
export function deliveredNow(): AttemptRecord {
  return {
    startedAt: Date.now(),
    durationMs: 1,
    outcome: 'delivered',
    status: 200,
    responseExcerpt: null,
    error: null,
  };
}
