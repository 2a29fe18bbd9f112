import { strictDecode } from '../../core/hmac.js';
import { hmacVerdict } from './hmac.js';
import { readHeader, rejected, type VerifyResult } from './result.js';
import { timestampProblem } from './timestamp.js';

const SIGNATURE_HEADER = 'X-Slack-Signature';
const TIMESTAMP_HEADER = 'X-Slack-Request-Timestamp';
const VERSION = 'v0';

/** Slack: `X-Slack-Signature: v0=<hex>` over `v0:<timestamp>:<body>`. */
export function verifySlack(
  secrets: readonly string[],
  toleranceMs: number,
  header: (lowerCaseName: string) => string | undefined,
  body: Buffer,
  nowMs: number,
): VerifyResult {
  const value = readHeader(header, SIGNATURE_HEADER);
  if (value === undefined) return rejected(`missing ${SIGNATURE_HEADER} header`);
  const timestamp = readHeader(header, TIMESTAMP_HEADER);
  if (timestamp === undefined) return rejected(`missing ${TIMESTAMP_HEADER} header`);

  const signature = strictDecode(value, 'hex', `${VERSION}=`);
  if (signature === null) return rejected(`malformed ${SIGNATURE_HEADER} header`);

  const problem = timestampProblem(timestamp, TIMESTAMP_HEADER, nowMs, toleranceMs);
  if (problem !== null) return rejected(problem);
  return hmacVerdict(secrets, [`${VERSION}:${timestamp}:`, body], [signature]);
}
