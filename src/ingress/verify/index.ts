import type { VerifyConfig } from '../../config/types.js';
import { GITHUB_FORMAT, SHOPIFY_FORMAT, verifyBodyHmac } from './body-hmac.js';
import type { VerifyResult } from './result.js';
import { verifySlack } from './slack.js';
import { verifyStandardWebhooks } from './standard-webhooks.js';
import { verifyStripe } from './stripe.js';

export type { VerifyResult } from './result.js';

/**
 * Checks an incoming webhook's signature against the exact body bytes it arrived with.
 * Never throws on what the sender controls: a missing or malformed header, a wrong
 * length or a stale timestamp all come back as `{ ok: false, reason }`.
 *
 * @param header looks up a request header by its lower-cased name
 * @param nowMs the current time in epoch milliseconds, for the timestamped schemes
 */
export function verifySignature(
  config: VerifyConfig,
  header: (lowerCaseName: string) => string | undefined,
  body: Buffer,
  nowMs: number,
): VerifyResult {
  const request = { header, body, nowMs };
  switch (config.scheme) {
    case 'github':
      return verifyBodyHmac(GITHUB_FORMAT, config.secrets, request);
    case 'shopify':
      return verifyBodyHmac(SHOPIFY_FORMAT, config.secrets, request);
    case 'hmac-sha256':
      return verifyBodyHmac(config, config.secrets, request);
    case 'stripe':
      return verifyStripe(config, request);
    case 'standard-webhooks':
      return verifyStandardWebhooks(config, request);
    case 'slack':
      return verifySlack(config, request);
  }
}
