/**
 * What API Gateway and SQS do with a route's mapping template, for tests: the template is
 * rendered by a Velocity engine (velocityjs), with stand-ins for the variables API Gateway
 * documents ($input, $util, $context) and for the Java String methods its Velocity calls
 * (matches, length, substring); the rendered form is decoded as SQS decodes a query-protocol
 * request, checked against SQS's rules for SendMessage, and turned into the record the
 * event source mapping hands the Lambda. Nothing here knows how the template is written.
 */
import assert from 'node:assert/strict';
import type { SQSRecord } from 'aws-lambda';
import { Compile, parse } from 'velocityjs';
import { SQS_ID } from '../../src/aws/wire.js';
import { QUEUE_ARN } from './fifo-events.js';

export interface ApiRequest {
  /** As the provider sent them; names in any case. */
  headers: Record<string, string>;
  body: string;
  requestTimeEpoch?: number;
}

/** java.net.URLEncoder.encode(text, "UTF-8"), which $util.urlEncode is. */
export function javaUrlEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9.*_-]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The JSONPath subset the templates use: `$.a.b`, `$.items[0].id`. */
function evaluatePath(document: unknown, path: string): unknown {
  assert.match(path, /^\$(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])+$/, `JSONPath ${path}`);
  let current: unknown = document;
  for (const [, key, index] of path.slice(1).matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)) {
    if (current === null || typeof current !== 'object') return undefined;
    current =
      index !== undefined
        ? (current as unknown[])[Number(index)]
        : (current as Record<string, unknown>)[key!];
  }
  // Java's null renders as nothing with $!; so does undefined here.
  return current === null ? undefined : current;
}

/** A java.util.Map of the headers (own properties: velocityjs calls no prototype methods). */
function headerMap(headers: Record<string, string>) {
  return {
    keySet: () => Object.keys(headers),
    get: (name: string) => headers[name],
  };
}

/** java.lang.String methods the templates call, on every string value. */
const JAVA_STRING_METHODS = [
  {
    uid: 'java-matches',
    match: ({ property, context }: { property: string; context: unknown }) =>
      property === 'matches' && typeof context === 'string',
    // String.matches is a match of the whole string.
    resolve: ({ context, params }: { context: string; params: unknown[] }) =>
      new RegExp(`^(?:${String(params[0])})$`, 'u').test(context),
  },
  {
    uid: 'java-length',
    match: ({ property, context }: { property: string; context: unknown }) =>
      property === 'length' && typeof context === 'string',
    resolve: ({ context }: { context: string }) => context.length,
  },
  {
    uid: 'java-substring',
    match: ({ property, context }: { property: string; context: unknown }) =>
      property === 'substring' && typeof context === 'string',
    resolve: ({ context, params }: { context: string; params: unknown[] }) => {
      const [begin, end] = params as [number, number];
      // Java throws where JavaScript would clamp.
      if (begin < 0 || end > context.length || begin > end) {
        throw new Error(`StringIndexOutOfBoundsException: ${begin}, ${end}, ${context.length}`);
      }
      return context.substring(begin, end);
    },
  },
];

/** The integration request body API Gateway sends to SQS for this request. */
export function renderTemplate(template: string, request: ApiRequest): string {
  const context = {
    input: {
      body: request.body,
      params: () => ({ header: headerMap(request.headers), path: {}, querystring: {} }),
      path: (path: string) => evaluatePath(JSON.parse(request.body), path),
    },
    util: {
      urlEncode: (text: string) => javaUrlEncode(String(text)),
      base64Encode: (text: string) => Buffer.from(String(text), 'utf8').toString('base64'),
    },
    context: {
      requestTimeEpoch: request.requestTimeEpoch ?? 1_700_000_000_123,
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
    },
  };
  // env 'development': a reference to anything not stood in for here is an error.
  const compiled = new Compile(parse(template), {
    customMethodHandlers: JAVA_STRING_METHODS as never,
    env: 'development',
  });
  return compiled.render(context);
}

export interface SendMessage {
  body: string;
  groupId: string;
  dedupId: string | undefined;
  attributes: Record<string, { dataType: string; stringValue: string }>;
}

/**
 * SQS's reading of a query-protocol SendMessage body: `+` and `%XX` decoded, and every
 * rule SendMessage enforces on a FIFO queue checked, so that a template that would make
 * SQS refuse a webhook fails here.
 */
export function readSendMessage(form: string): SendMessage {
  assert.doesNotMatch(form, /\s/, 'the form has no raw white space: every value is encoded');
  const params = new URLSearchParams(form);
  const keys = [...params.keys()];
  assert.equal(new Set(keys).size, keys.length, `a parameter given twice: ${keys.join(', ')}`);
  for (const key of keys) {
    assert.match(
      key,
      /^(Action|Version|MessageBody|MessageGroupId|MessageDeduplicationId|MessageAttribute\.\d+\.(Name|Value\.DataType|Value\.StringValue))$/,
      `unexpected parameter ${JSON.stringify(key)}`,
    );
  }
  assert.equal(params.get('Action'), 'SendMessage');
  const body = params.get('MessageBody');
  assert.ok(body !== null && body !== '', 'SQS refuses an empty MessageBody');
  const groupId = params.get('MessageGroupId');
  assert.ok(groupId !== null, 'a FIFO queue requires MessageGroupId');
  assert.match(groupId, SQS_ID, `SQS refuses MessageGroupId ${JSON.stringify(groupId)}`);
  const dedupId = params.get('MessageDeduplicationId') ?? undefined;
  if (dedupId !== undefined) {
    assert.match(dedupId, SQS_ID, `SQS refuses MessageDeduplicationId ${JSON.stringify(dedupId)}`);
  }
  const attributes: SendMessage['attributes'] = {};
  for (let n = 1; params.has(`MessageAttribute.${n}.Name`); n++) {
    const name = params.get(`MessageAttribute.${n}.Name`)!;
    const dataType = params.get(`MessageAttribute.${n}.Value.DataType`);
    const stringValue = params.get(`MessageAttribute.${n}.Value.StringValue`);
    assert.ok(!(name in attributes), `attribute ${name} given twice`);
    assert.match(name, /^[A-Za-z0-9_.-]{1,256}$/, `attribute name ${name}`);
    assert.ok(dataType === 'String' || dataType === 'Number', `attribute ${name} type ${dataType}`);
    assert.ok(
      stringValue !== null && stringValue !== '',
      `SQS refuses the empty attribute ${name}`,
    );
    if (dataType === 'Number') assert.match(stringValue, /^-?\d+(\.\d+)?$/);
    attributes[name] = { dataType, stringValue };
  }
  const count = Object.keys(attributes).length;
  assert.ok(count <= 10, `SQS allows 10 message attributes, not ${count}`);
  assert.equal(
    keys.filter((key) => key.startsWith('MessageAttribute.')).length,
    count * 3,
    'attributes numbered from 1 without gaps',
  );
  return { body, groupId, dedupId, attributes };
}

let sequence = 0n;

/** The record the event source mapping gives the Lambda for the stored message. */
export function lambdaRecord(message: SendMessage, sentTimestamp = 1_700_000_000_200): SQSRecord {
  sequence += 1n;
  return {
    messageId: `7b3f1f8e-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    receiptHandle: `AQEB-receipt-${sequence}`,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(sentTimestamp),
      SequenceNumber: String(18849496460467696128n + sequence),
      MessageGroupId: message.groupId,
      SenderId: 'AROAEXAMPLEEXAMPLE:apigateway',
      MessageDeduplicationId: message.dedupId ?? 'content-sha256',
      ApproximateFirstReceiveTimestamp: String(sentTimestamp + 5),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.attributes).map(([name, a]) => [
        name,
        { ...a, stringListValues: [], binaryListValues: [] },
      ]),
    ),
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: 'us-east-2',
  };
}
