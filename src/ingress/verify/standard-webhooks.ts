import { strictDecode } from '../../core/hmac.js';
import { signedContent, standardWebhooksKey } from '../../core/standard-webhooks.js';
import { hmacVerdict } from './hmac.js';
import type { SignedRequest, TimedSecrets, VerifyResult } from './result.js';
import { malformed, missing, readHeader, rejected } from './result.js';
import { timestampProblem } from './timestamp.js';

// https://www.standardwebhooks.com (the signature itself: core/standard-webhooks.ts)
const ID_HEADER = 'webhook-id';
const TIMESTAMP_HEADER = 'webhook-timestamp';
const SIGNATURE_HEADER = 'webhook-signature';

/**
 * `webhook-signature` is a space-separated list of `<version>,<base64>`. Entries of other
 * versions (e.g. asymmetric `v1a`) are skipped, so a sender can add them without breaking
 * receivers that only know `v1`.
 */
function parseSignatures(value: string): Buffer[] | null {
  const signatures: Buffer[] = [];
  for (const entry of value.split(' ')) {
    if (entry === '') continue;
    const comma = entry.indexOf(',');
    if (comma < 0) return null;
    if (entry.slice(0, comma) !== 'v1') continue;
    const signature = strictDecode(entry.slice(comma + 1), 'base64');
    if (signature === null) return null;
    signatures.push(signature);
  }
  return signatures.length === 0 ? null : signatures;
}

export function verifyStandardWebhooks(
  settings: TimedSecrets,
  request: SignedRequest,
): VerifyResult {
  const id = readHeader(request, ID_HEADER);
  if (id === undefined) return missing(ID_HEADER);
  const timestamp = readHeader(request, TIMESTAMP_HEADER);
  if (timestamp === undefined) return missing(TIMESTAMP_HEADER);
  const value = readHeader(request, SIGNATURE_HEADER);
  if (value === undefined) return missing(SIGNATURE_HEADER);

  const signatures = parseSignatures(value);
  if (signatures === null) return malformed(SIGNATURE_HEADER);
  const problem = timestampProblem(timestamp, TIMESTAMP_HEADER, request, settings);
  if (problem !== null) return rejected(problem);

  // A secret that is not valid base64 cannot have signed anything; the config loader is
  // the place to refuse it, so here it simply matches nothing.
  const keys = settings.secrets.flatMap((secret) => standardWebhooksKey(secret) ?? []);
  return hmacVerdict(keys, signedContent(id, timestamp, request.body), signatures);
}
