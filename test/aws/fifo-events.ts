/**
 * SQS FIFO events shaped as AWS documents them for Lambda ("Example Amazon SQS FIFO
 * message event"): every record carries the system attributes of a FIFO message and
 * camel-cased message attributes.
 */
import type { SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import type { InvocationContext } from '../../src/aws/sqs-forwarder.js';

export const QUEUE_ARN = 'arn:aws:sqs:us-east-2:123456789012:hookq-webhooks.fifo';

/** A sequence number as SQS writes them: 20 digits, beyond Number.MAX_SAFE_INTEGER. */
export const BASE_SEQUENCE = 18849496460467696128n;

export interface RecordOptions {
  body?: string;
  group?: string;
  /** The `route` message attribute; null: none. */
  route?: string | null;
  /** Request headers, carried as `header.<name>` attributes the way the integration writes them. */
  headers?: Record<string, string>;
  receiveCount?: number;
  sequence?: bigint;
  sentTimestamp?: number;
  /** The received-at attribute the integration writes; undefined: none. */
  receivedAt?: number;
  messageId?: string;
}

let counter = 0;

export function fifoRecord(options: RecordOptions = {}): SQSRecord {
  counter += 1;
  const messageId =
    options.messageId ?? `059f36b4-87a3-44ab-83d2-${String(counter).padStart(12, '0')}`;
  const messageAttributes: SQSMessageAttributes = {};
  const route = options.route === undefined ? 'approvals' : options.route;
  if (route !== null) messageAttributes.route = stringAttribute(route);
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    messageAttributes[`header.${name}`] = stringAttribute(`=${value}`);
  }
  if (options.receivedAt !== undefined) {
    messageAttributes['received-at'] = {
      ...stringAttribute(String(options.receivedAt)),
      dataType: 'Number',
    };
  }
  const sent = options.sentTimestamp ?? 1_573_251_510_774;
  return {
    messageId,
    receiptHandle: `AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a${counter}...`,
    body: options.body ?? `{"event":"approval.updated","n":${counter}}`,
    attributes: {
      ApproximateReceiveCount: String(options.receiveCount ?? 1),
      SentTimestamp: String(sent),
      SequenceNumber: String(options.sequence ?? BASE_SEQUENCE + BigInt(counter) * 65_536n),
      MessageGroupId: options.group ?? 'approvals',
      SenderId: 'AROAEXAMPLEEXAMPLE:apigateway',
      MessageDeduplicationId: `dedup-${counter}`,
      ApproximateFirstReceiveTimestamp: String(sent + 5),
    },
    messageAttributes,
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: QUEUE_ARN,
    awsRegion: 'us-east-2',
  };
}

export function fifoEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

function stringAttribute(value: string) {
  return { stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String' };
}

/** A Lambda context with this much time left from the moment it is made. */
export function contextWith(remainingMs: number): InvocationContext {
  const end = Date.now() + remainingMs;
  return {
    getRemainingTimeInMillis: () => Math.max(0, end - Date.now()),
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
  };
}
