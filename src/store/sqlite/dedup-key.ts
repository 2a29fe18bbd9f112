import { createHash } from 'node:crypto';

/**
 * The key a dedup id is stored under: the first 16 bytes of its SHA-256. Dedup ids are
 * random (most are hashes of bodies), so each new one lands on a page of its own; 16
 * bytes in place of the id's 70 or more characters fit more than twice as many on a
 * page, which shrinks the table and what each enqueue writes. Two ids sharing a key
 * would need 2^64 ids in one route's window, which no queue holds.
 */
export function dedupKey(dedupId: string): Buffer {
  return createHash('sha256').update(dedupId).digest().subarray(0, 16);
}
