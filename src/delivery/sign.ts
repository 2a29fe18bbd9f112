import { ConfigError } from '../core/errors.js';
import { standardWebhooksKey, standardWebhooksSignature } from '../core/standard-webhooks.js';

export interface StandardWebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The Standard Webhooks headers for a forwarded request, so the application can check
 * that it came from hookq. `messageId` is the hookq message id: it stays the same across
 * attempts, which lets the application drop repeats by `webhook-id` too.
 *
 * @param secret `whsec_` followed by base64, as the Standard Webhooks libraries expect
 * @param timestampSeconds when the attempt is sent, in unix seconds
 */
export function signStandardWebhook(
  secret: string,
  messageId: string,
  timestampSeconds: number,
  body: Buffer,
): StandardWebhookHeaders {
  const key = standardWebhooksKey(secret);
  if (key === null) {
    throw new ConfigError(
      'sign.secret',
      'sign.secret: must be "whsec_" followed by base64; generate one with: echo "whsec_$(openssl rand -base64 32)"',
    );
  }
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError(
      `timestampSeconds must be a whole number of seconds, got ${timestampSeconds}`,
    );
  }
  const timestamp = String(timestampSeconds);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': timestamp,
    'webhook-signature': standardWebhooksSignature(key, messageId, timestamp, body),
  };
}
