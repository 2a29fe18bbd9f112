/**
 * How a webhook travels from API Gateway to the Lambda forwarder on AWS. The HTTP API's
 * SQS-SendMessage integration can only put the body into the message; everything else
 * hookq needs rides in SQS message attributes, named here. The CDK construct and the
 * Terraform module write these names; the Lambda reads them.
 *
 *   route                   String attribute: the name of the hookq route the webhook came in on.
 *   header.<name>           String attribute: one forwarded request header (lower-case name),
 *                           its value prefixed with HEADER_VALUE_PREFIX.
 */

/** The message attribute naming the route. */
export const ROUTE_ATTRIBUTE = 'route';

/** Prefix of the message attributes that carry request headers: `header.content-type`. */
export const HEADER_ATTRIBUTE_PREFIX = 'header.';

/**
 * Every header attribute value starts with this. SQS refuses a message attribute with an
 * empty value, so a request without the header would otherwise be refused at the gateway,
 * and the provider's webhook lost; with the prefix the value is never empty, and the
 * Lambda forwards only headers that had a value.
 */
export const HEADER_VALUE_PREFIX = '=';

/** SQS allows 10 message attributes per message; one of them is the route. */
export const MAX_FORWARDED_HEADERS = 9;

/**
 * Header names that can be carried: SQS attribute names allow letters, digits, `-`, `_`
 * and `.`, and hookq compares header names in lower case.
 */
export const FORWARDABLE_HEADER = /^[a-z0-9][a-z0-9_-]*$/;

/** Route names, as in hookq.yaml. They also prefix message group ids and name AWS resources. */
export const ROUTE_NAME = /^[A-Za-z0-9_.-]+$/;

/** The attribute name that carries one header. */
export function headerAttribute(name: string): string {
  return `${HEADER_ATTRIBUTE_PREFIX}${name}`;
}
