import { timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from '../../core/hmac.js';
import { rejected, VERIFIED, type VerifyResult } from './result.js';

/**
 * Whether any received signature equals the HMAC of `parts` under any key. Every pair is
 * compared in constant time and none is skipped after a match, so the time taken says
 * nothing about which bytes or which key matched. A length mismatch is just a mismatch.
 */
function anyHmacMatches(
  keys: ReadonlyArray<string | Uint8Array>,
  parts: Array<string | Uint8Array>,
  received: readonly Buffer[],
): boolean {
  let matched = false;
  for (const key of keys) {
    const expected = hmacSha256(key, parts);
    for (const signature of received) {
      const equal = signature.length === expected.length && timingSafeEqual(signature, expected);
      matched = equal || matched;
    }
  }
  return matched;
}

/** The verdict every scheme gives once its headers have been parsed. */
export function hmacVerdict(
  keys: ReadonlyArray<string | Uint8Array>,
  parts: Array<string | Uint8Array>,
  received: readonly Buffer[],
): VerifyResult {
  return anyHmacMatches(keys, parts, received) ? VERIFIED : rejected('signature does not match');
}
