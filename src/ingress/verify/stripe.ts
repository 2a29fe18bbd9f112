import { strictDecode } from '../../core/hmac.js';
import { hmacVerdict } from './hmac.js';
import { readHeader, rejected, type VerifyResult } from './result.js';
import { timestampProblem } from './timestamp.js';

const HEADER = 'Stripe-Signature';

/**
 * Stripe: `Stripe-Signature: t=<seconds>,v1=<hex>[,v1=<hex>…]` over `${t}.${body}`. Stripe
 * sends several `v1` entries while the sender rotates its secret, and `v0` entries that
 * are test-mode only, so those are ignored rather than refused.
 */
export function verifyStripe(
  secrets: readonly string[],
  toleranceMs: number,
  header: (lowerCaseName: string) => string | undefined,
  body: Buffer,
  nowMs: number,
): VerifyResult {
  const value = readHeader(header, HEADER);
  if (value === undefined) return rejected(`missing ${HEADER} header`);

  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const item of value.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) return rejected(`malformed ${HEADER} header`);
    const key = item.slice(0, eq).trim();
    const text = item.slice(eq + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined) return rejected(`malformed ${HEADER} header`);
      timestamp = text;
    } else if (key === 'v1') {
      const signature = strictDecode(text, 'hex');
      if (signature === null) return rejected(`malformed ${HEADER} header`);
      signatures.push(signature);
    }
  }
  if (timestamp === undefined || signatures.length === 0) {
    return rejected(`malformed ${HEADER} header`);
  }

  // Stale requests are refused before any HMAC work, which keeps replay floods cheap.
  const problem = timestampProblem(timestamp, HEADER, nowMs, toleranceMs);
  if (problem !== null) return rejected(problem);
  // The secret is the HMAC key as written, `whsec_` included: that is how Stripe signs.
  return hmacVerdict(secrets, [`${timestamp}.`, body], signatures);
}
