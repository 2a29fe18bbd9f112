/**
 * The API Gateway (REST API) mapping template of one route: it turns the provider's
 * request into an SQS SendMessage call of SQS's query protocol, a form-encoded body
 * (`Action=SendMessage&MessageBody=...&MessageGroupId=...&MessageAttribute.1.Name=...`).
 *
 * Safe by construction: every value that comes from the request (the body, header
 * values, a value of the JSON body) reaches the form only through `$util.urlEncode`,
 * which percent-encodes `&`, `=`, `%`, `"`, `\`, line breaks and everything else outside
 * `A-Z a-z 0-9 . - * _`. No request can add, end or change a parameter. What the template
 * itself writes (route and header names, a static group) is checked at synthesis and
 * form-encoded here.
 *
 * The Terraform module builds the same text (deploy/terraform/wire.tf); the tests render
 * both with a Velocity engine and compare them.
 *
 * The template is one line with no white space between directives: Velocity keeps text
 * between directives, and a stray line break would become part of a form parameter. For
 * the same reason `#end` and `#else` are written `#{end}` and `#{else}`: `#endAction=`
 * would read as a directive named `endAction`.
 */
import {
  HEADER_VALUE_PREFIX,
  headerAttribute,
  MAX_SQS_ID,
  RECEIVED_AT_ATTRIBUTE,
  ROUTE_ATTRIBUTE,
} from '../../src/aws/wire.js';

export interface TemplateRoute {
  name: string;
  /** undefined: the route name; a string: that static id; or from a header or the JSON body. */
  group?: string | { readonly header: string } | { readonly json: string } | undefined;
  dedupHeader?: string | undefined;
  /** Lower-case names, each once, at most MAX_CARRIED_HEADERS. */
  carriedHeaders: readonly string[];
}

/**
 * JSON Pointers the template can read: object keys of letters, digits and `_` (not
 * starting with a digit), and array indexes. API Gateway evaluates them as JSONPath.
 */
export const JSON_GROUP_POINTER = /^(\/([A-Za-z_][A-Za-z0-9_]*|0|[1-9][0-9]*))+$/;

/** `/approval/id` → `$.approval.id`; `/items/0/id` → `$.items[0].id`. */
export function jsonPath(pointer: string): string {
  if (!JSON_GROUP_POINTER.test(pointer)) throw new Error(`unsupported JSON Pointer ${pointer}`);
  return `$${pointer
    .slice(1)
    .split('/')
    .map((segment) => (/^\d+$/.test(segment) ? `[${segment}]` : `.${segment}`))
    .join('')}`;
}

/**
 * Form encoding of a value the template writes itself, as Terraform's urlencode() does:
 * letters, digits and `-_.~` kept, a space as `+`, every other UTF-8 byte as `%XX`.
 */
export function formEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.~-]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The VTL variable that receives carried header number `index` (0-based). */
const headerVariable = (index: number) => `$h${index + 1}`;

export function sendMessageTemplate(route: TemplateRoute): string {
  const name = route.name;
  const group = route.group;
  const dynamic = group !== undefined && typeof group !== 'string';
  const captures: Array<[header: string, variable: string]> = [];
  if (dynamic && 'header' in group) captures.push([group.header.toLowerCase(), '$g']);
  if (route.dedupHeader !== undefined) captures.push([route.dedupHeader.toLowerCase(), '$d']);
  route.carriedHeaders.forEach((header, index) => {
    captures.push([header, headerVariable(index)]);
  });

  let vtl = '';
  for (const [, variable] of captures) vtl += `#set(${variable}='')`;
  if (captures.length > 0) {
    vtl += '#foreach($n in $input.params().header.keySet())#set($k=$n.toLowerCase())';
    for (const [header, variable] of captures) {
      vtl += `#if($k=='${header}')#set(${variable}=$input.params().header.get($n))#{end}`;
    }
    vtl += '#{end}';
  }
  if (dynamic && 'json' in group) {
    vtl += `#set($found=$input.path('${jsonPath(group.json)}'))#set($g="$!found")`;
  }
  if (dynamic) {
    // groupIdFor() in src/aws/wire.ts, in Velocity.
    vtl +=
      `#if($g=='')#set($g='${name}')` +
      `#elseif($g.matches('[!-~]{1,${MAX_SQS_ID - name.length - 1}}'))#set($g="${name}:$g")` +
      `#{else}#set($g="${name}~$util.base64Encode($g)")#if($g.length()>${MAX_SQS_ID})#set($g=$g.substring(0,${MAX_SQS_ID}))#{end}#{end}`;
  }

  const form = [
    'Action=SendMessage',
    'Version=2012-11-05',
    'MessageBody=$util.urlEncode($input.body)',
    `MessageGroupId=${dynamic ? '$util.urlEncode($g)' : formEncode(group ?? name)}`,
  ];
  let text = `${vtl}${form.join('&')}`;
  if (route.dedupHeader !== undefined) {
    // dedupIdFor() in src/aws/wire.ts: without a usable id, content-based deduplication.
    text += `#if($d.matches('[!-~]{1,${MAX_SQS_ID}}'))&MessageDeduplicationId=$util.urlEncode($d)#{end}`;
  }
  const attributes: Array<[name: string, type: 'String' | 'Number', value: string]> = [
    [ROUTE_ATTRIBUTE, 'String', formEncode(name)],
    [RECEIVED_AT_ATTRIBUTE, 'Number', '$context.requestTimeEpoch'],
    ...route.carriedHeaders.map(
      (header, index) =>
        [
          headerAttribute(header),
          'String',
          `${formEncode(HEADER_VALUE_PREFIX)}$util.urlEncode(${headerVariable(index)})`,
        ] as [string, 'String', string],
    ),
  ];
  attributes.forEach(([attribute, type, value], index) => {
    const at = `MessageAttribute.${index + 1}`;
    text += `&${at}.Name=${attribute}&${at}.Value.DataType=${type}&${at}.Value.StringValue=${value}`;
  });
  return text;
}

/** What the provider gets once SQS stored the message (the integration's 2xx answer). */
export const ACCEPTED_RESPONSE = '{"queued":true,"requestId":"$context.requestId"}';

/** SQS refused or failed the SendMessage: the provider should send the webhook again. */
export const REFUSED_STATUS = '503';
/** Matched against SQS's HTTP status: any 4xx or 5xx. */
export const REFUSED_SELECTION_PATTERN = '[45]\\d{2}';
export const REFUSED_RESPONSE =
  '{"error":"the queue did not store the webhook; send it again later","requestId":"$context.requestId"}';
export const RETRY_AFTER_SECONDS = '30';

/** Content types a route takes by default; API Gateway answers others with 415. */
export const DEFAULT_CONTENT_TYPES: readonly string[] = [
  'application/json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'application/xml',
  'text/xml',
];

/** With a group from the JSON body, only JSON: API Gateway's JSONPath reads nothing else. */
export const JSON_GROUP_CONTENT_TYPES: readonly string[] = ['application/json'];

export const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;
