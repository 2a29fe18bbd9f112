import { strictDecode } from '../../core/hmac.js';
import { hmacVerdict } from './hmac.js';
import type { SignedRequest, TimedSecrets, VerifyResult } from './result.js';
import { malformed, missing, readHeader, rejected } from './result.js';
import { timestampProblem } from './timestamp.js';

const SIGNATURE_HEADER = 'X-Slack-Signature';
const TIMESTAMP_HEADER = 'X-Slack-Request-Timestamp';
const VERSION = 'v0';

/** Slack: `X-Slack-Signature: v0=<hex>` over `v0:<timestamp>:<body>`. */
export function verifySlack(settings: TimedSecrets, request: SignedRequest): VerifyResult {
  const value = readHeader(request, SIGNATURE_HEADER);
  if (value === undefined) return missing(SIGNATURE_HEADER);
  const timestamp = readHeader(request, TIMESTAMP_HEADER);
  if (timestamp === undefined) return missing(TIMESTAMP_HEADER);

  const signature = strictDecode(value, 'hex', `${VERSION}=`);
  if (signature === null) return malformed(SIGNATURE_HEADER);
  const problem = timestampProblem(timestamp, TIMESTAMP_HEADER, request, settings);
  if (problem !== null) return rejected(problem);
  return hmacVerdict(settings.secrets, [`${VERSION}:${timestamp}:`, request.body], [signature]);
}
