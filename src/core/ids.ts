import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

/**
 * Message ids are UUIDv7: unique everywhere, and ordered by creation time, so the
 * index on them grows at one end instead of being written all over.
 * Random bytes come from a pool filled in bulk: asking the system per id costs more
 * than the rest of an enqueue's bookkeeping.
 */
const pool = Buffer.alloc(16 * 256);
let offset = pool.length;

function pooledRandom(): Uint8Array {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + 16);
  offset += 16;
  return bytes;
}

export function newMessageId(): string {
  return v7({ random: pooledRandom() });
}
