import { hmacSha256, strictDecode } from './hmac.js';

/**
 * Standard Webhooks (https://www.standardwebhooks.com) signatures: what the ingress
 * verifier checks and what hookq's own signing of forwarded requests produces, in one
 * place so that the two cannot drift apart.
 */
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
export function signedContent(
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
