/**
 * How a webhook travels from API Gateway to the Lambda forwarder on AWS. The REST API's
 * SQS integration puts the body into the message; everything else hookq needs rides in
 * SQS message attributes, named here. The CDK construct and the Terraform module write
 * these names (deploy/cdk/send-message-template.ts, deploy/terraform/wire.tf); the Lambda
 * reads them.
 *
 *   route                   String attribute: the name of the hookq route the webhook came in on.
 *   received-at             Number attribute: when API Gateway received the request, epoch ms.
 *                           Unlike SentTimestamp it survives a DLQ redrive.
 *   header.<name>           String attribute: one carried request header (lower-case name),
 *                           its value prefixed with HEADER_VALUE_PREFIX.
 */
import type { VerifyConfig } from '../config/types.js';

/** The message attribute naming the route. */
export const ROUTE_ATTRIBUTE = 'route';

/** The message attribute holding API Gateway's receive time (epoch milliseconds). */
export const RECEIVED_AT_ATTRIBUTE = 'received-at';

/** Prefix of the message attributes that carry request headers: `header.content-type`. */
export const HEADER_ATTRIBUTE_PREFIX = 'header.';

/**
 * Every header attribute value starts with this. SQS refuses a message attribute with an
 * empty value, so a request without the header would otherwise be refused at the gateway,
 * and the provider's webhook lost; with the prefix the value is never empty, and the
 * Lambda forwards only headers that had a value.
 */
export const HEADER_VALUE_PREFIX = '=';

/** SQS allows 10 message attributes per message; two of them are the route and received-at. */
export const MAX_CARRIED_HEADERS = 8;

/**
 * Header names that can be carried: SQS attribute names allow letters, digits, `-`, `_`
 * and `.`, and hookq compares header names in lower case.
 */
export const FORWARDABLE_HEADER = /^[a-z0-9][a-z0-9_-]*$/;

/** Route names, as in hookq.yaml. They also prefix message group ids and name AWS resources. */
export const ROUTE_NAME = /^[A-Za-z0-9_.-]+$/;

/** Longest route name: it prefixes group ids (128 characters at most) and names resources. */
export const MAX_ROUTE_NAME = 64;

/**
 * What SQS accepts as MessageGroupId and MessageDeduplicationId: 1 to 128 characters,
 * each a letter, a digit or ASCII punctuation (`!"#$%&'()*+,-./:;<=>?@[\]^_\`{|}~`), which
 * is exactly the printable ASCII range without the space.
 */
export const SQS_ID = /^[!-~]{1,128}$/;

export const MAX_SQS_ID = 128;

/** The attribute name that carries one header. */
export function headerAttribute(name: string): string {
  return `${HEADER_ATTRIBUTE_PREFIX}${name}`;
}

/**
 * The message group id the integration writes for a group taken from the request (a
 * header, or a value in the JSON body), spelled out here as the reference for the
 * mapping templates of both tools:
 *
 *   - no value, or an empty one: the route name (as `hookq serve` does);
 *   - a value SQS accepts that fits after `<route>:`: `<route>:<value>`;
 *   - anything else (a space, non-ASCII, too long): `<route>~` and the base64 of the
 *     value, cut to 128 characters. Two long ids that share their first ~90 bytes share a
 *     group: that orders more, never less, and loses nothing.
 */
export function groupIdFor(routeName: string, value: string | undefined): string {
  if (value === undefined || value === '') return routeName;
  const plain = `${routeName}:${value}`;
  if (SQS_ID.test(plain)) return plain;
  return `${routeName}~${Buffer.from(value, 'utf8').toString('base64')}`.slice(0, MAX_SQS_ID);
}

/**
 * The deduplication id the integration writes for a route deduplicated by a provider
 * header: the value when SQS accepts it, else none (the queue's content-based
 * deduplication, scoped to the group, applies). A value is never cut or hashed: two
 * deliveries whose ids share a prefix must not be taken for one.
 */
export function dedupIdFor(value: string | undefined): string | undefined {
  return value !== undefined && SQS_ID.test(value) ? value : undefined;
}

/** The request headers each verify scheme reads, lower-case: they must be carried. */
export function verifyHeaders(
  verify: Pick<VerifyConfig, 'scheme'> & { header?: string },
): string[] {
  switch (verify.scheme) {
    case 'github':
      return ['x-hub-signature-256'];
    case 'shopify':
      return ['x-shopify-hmac-sha256'];
    case 'stripe':
      return ['stripe-signature'];
    case 'standard-webhooks':
      return ['webhook-id', 'webhook-timestamp', 'webhook-signature'];
    case 'slack':
      return ['x-slack-signature', 'x-slack-request-timestamp'];
    case 'hmac-sha256':
      return verify.header === undefined ? [] : [verify.header.toLowerCase()];
  }
}
