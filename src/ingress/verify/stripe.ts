import { strictDecode } from '../../core/hmac.js';
import { hmacVerdict } from './hmac.js';
import type { SignedRequest, TimedSecrets, VerifyResult } from './result.js';
import { malformed, missing, readHeader, rejected } from './result.js';
import { timestampProblem } from './timestamp.js';

const HEADER = 'Stripe-Signature';

/**
 * Stripe: `Stripe-Signature: t=<seconds>,v1=<hex>[,v1=<hex>…]` over `${t}.${body}`. Stripe
 * sends several `v1` entries while the sender rotates its secret, and `v0` entries that
 * are test-mode only, so those are ignored rather than refused.
 */
export function verifyStripe(settings: TimedSecrets, request: SignedRequest): VerifyResult {
  const value = readHeader(request, HEADER);
  if (value === undefined) return missing(HEADER);

  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const item of value.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) return malformed(HEADER);
    const key = item.slice(0, eq).trim();
    const text = item.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined) return malformed(HEADER);
      timestamp = text;
    } else if (key === 'v1') {
      const signature = strictDecode(text, 'hex');
      if (signature === null) return malformed(HEADER);
      signatures.push(signature);
    }
  }
  if (timestamp === undefined || signatures.length === 0) return malformed(HEADER);

  // Stale requests are refused before any HMAC work, which keeps replay floods cheap.
  const problem = timestampProblem(timestamp, HEADER, request, settings);
  if (problem !== null) return rejected(problem);
  // The secret is the HMAC key as written, `whsec_` included: that is how Stripe signs.
  return hmacVerdict(settings.secrets, [`${timestamp}.`, request.body], signatures);
}
