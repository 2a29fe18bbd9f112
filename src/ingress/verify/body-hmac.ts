import { strictDecode } from '../../core/hmac.js';
import { hmacVerdict } from './hmac.js';
import { malformed, missing, readHeader, type SignedRequest, type VerifyResult } from './result.js';

/**
 * Schemes whose one header carries `prefix` + HMAC-SHA256(secret, body): GitHub, Shopify
 * and the configurable generic scheme differ only in these four values.
 */
export interface BodyHmacFormat {
  /** As the sender spells it, for reasons shown to people. */
  header: string;
  prefix: string;
  encoding: 'hex' | 'base64';
}

export const GITHUB_FORMAT: BodyHmacFormat = {
  header: 'X-Hub-Signature-256',
  prefix: 'sha256=',
  encoding: 'hex',
};

export const SHOPIFY_FORMAT: BodyHmacFormat = {
  header: 'X-Shopify-Hmac-Sha256',
  prefix: '',
  encoding: 'base64',
};

export function verifyBodyHmac(
  format: BodyHmacFormat,
  secrets: readonly string[],
  request: SignedRequest,
): VerifyResult {
  const value = readHeader(request, format.header);
  if (value === undefined) return missing(format.header);
  const signature = strictDecode(value, format.encoding, format.prefix);
  if (signature === null) return malformed(format.header);
  return hmacVerdict(secrets, [request.body], [signature]);
}
