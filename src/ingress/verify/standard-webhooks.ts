import { hmacSha256, hmacVerdict, strictDecode } from './hmac.js';
import { readHeader, rejected, type VerifyResult } from './result.js';
import { timestampProblem } from './timestamp.js';

// https://www.standardwebhooks.com
const ID_HEADER = 'webhook-id';
const TIMESTAMP_HEADER = 'webhook-timestamp';
const SIGNATURE_HEADER = 'webhook-signature';
const SECRET_PREFIX = 'whsec_';

/**
 * The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`, or null when the
 * secret is not valid base64. The prefix is optional, as in the reference libraries.
 */
export function standardWebhooksKey(secret: string): Buffer | null {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  return strictDecode(encoded, 'base64');
}

/**
 * The signed content `${id}.${timestamp}.${body}`, in parts so the body is not copied.
 * The verifier and the signer of forwarded requests both build it here, so the two
 * cannot drift apart.
 */
function signedContent(
  id: string,
  timestamp: string,
  body: Uint8Array,
): Array<string | Uint8Array> {
  return [`${id}.${timestamp}.`, body];
}

/** The `webhook-signature` value hookq sends: one `v1` entry. */
export function standardWebhooksSignature(
  key: Uint8Array,
  id: string,
  timestamp: string,
  body: Uint8Array,
): string {
  return `v1,${hmacSha256(key, signedContent(id, timestamp, body)).toString('base64')}`;
}

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
  secrets: readonly string[],
  toleranceMs: number,
  header: (lowerCaseName: string) => string | undefined,
  body: Buffer,
  nowMs: number,
): VerifyResult {
  const id = readHeader(header, ID_HEADER);
  if (id === undefined) return rejected(`missing ${ID_HEADER} header`);
  const timestamp = readHeader(header, TIMESTAMP_HEADER);
  if (timestamp === undefined) return rejected(`missing ${TIMESTAMP_HEADER} header`);
  const value = readHeader(header, SIGNATURE_HEADER);
  if (value === undefined) return rejected(`missing ${SIGNATURE_HEADER} header`);

  const signatures = parseSignatures(value);
  if (signatures === null) return rejected(`malformed ${SIGNATURE_HEADER} header`);
  const problem = timestampProblem(timestamp, TIMESTAMP_HEADER, nowMs, toleranceMs);
  if (problem !== null) return rejected(problem);

  // A secret that is not valid base64 cannot have signed anything; the config loader is
  // the place to refuse it, so here it simply matches nothing.
  const keys = secrets.flatMap((secret) => standardWebhooksKey(secret) ?? []);
  return hmacVerdict(keys, signedContent(id, timestamp, body), signatures);
}
