/**
 * The SQS FIFO event the Lambda receives, checked before anything is forwarded. The
 * shape is the one AWS documents for FIFO queues: each record has `messageId`, `body`,
 * `attributes` (MessageGroupId, SequenceNumber, ApproximateReceiveCount, SentTimestamp,
 * MessageDeduplicationId, ...) and `messageAttributes` (name → {dataType, stringValue}).
 */
import { HookqError } from '../core/errors.js';
import type { HeaderList } from '../core/terms.js';
import {
  HEADER_ATTRIBUTE_PREFIX,
  HEADER_VALUE_PREFIX,
  RECEIVED_AT_ATTRIBUTE,
  ROUTE_ATTRIBUTE,
} from './wire.js';

/** The invocation payload is not an SQS FIFO event. `path` names the offending field. */
export class MalformedEventError extends HookqError {
  readonly path: string;

  constructor(path: string, problem: string) {
    super('malformed_event', `malformed SQS event: ${path ? `${path} ` : ''}${problem}`);
    this.path = path;
  }
}

/** One record of the batch, as the forwarder needs it. */
export interface FifoRecord {
  messageId: string;
  body: string;
  groupId: string;
  /** SQS's sequence number: a decimal string, larger than a JavaScript number holds. */
  sequenceNumber: string;
  /** ApproximateReceiveCount: 1 on the first delivery to the Lambda. */
  receiveCount: number;
  /** SentTimestamp: when SQS accepted the message, epoch milliseconds. */
  sentAt: number;
  /**
   * When the webhook arrived: the received-at attribute the integration writes (API
   * Gateway's receive time), else SentTimestamp. A DLQ redrive makes a new message with a
   * new SentTimestamp, but keeps the attribute.
   */
  receivedAt: number;
  /** Needed to change the message's visibility; absent only in hand-made events. */
  receiptHandle: string | undefined;
  /** The queue's ARN (eventSourceARN). */
  queueArn: string | undefined;
  dedupId: string | undefined;
  /** The route named by the route message attribute, if any. */
  routeAttribute: string | undefined;
  /** Request headers carried in `header.*` message attributes; absent headers left out. */
  headers: HeaderList;
}

/** Check the whole event; throws MalformedEventError naming the first bad field. */
export function parseFifoEvent(event: unknown): FifoRecord[] {
  if (!isObject(event) || !('Records' in event)) {
    throw new MalformedEventError(
      '',
      `is not an SQS event: expected an object with a Records list (got ${describe(event)})`,
    );
  }
  const records = event.Records;
  if (!Array.isArray(records)) {
    throw new MalformedEventError('Records', `must be a list (got ${describe(records)})`);
  }
  const seen = new Set<string>();
  return records.map((record: unknown, index) => {
    const parsed = parseRecord(record, `Records[${index}]`);
    if (seen.has(parsed.messageId)) {
      throw new MalformedEventError(
        `Records[${index}].messageId`,
        `repeats ${JSON.stringify(parsed.messageId)}; each record of a batch is a different message`,
      );
    }
    seen.add(parsed.messageId);
    return parsed;
  });
}

function parseRecord(record: unknown, at: string): FifoRecord {
  if (!isObject(record)) {
    throw new MalformedEventError(at, `must be an object (got ${describe(record)})`);
  }
  if (record.eventSource !== 'aws:sqs') {
    throw new MalformedEventError(
      `${at}.eventSource`,
      `must be "aws:sqs" (got ${describe(record.eventSource)}): this function consumes an SQS FIFO queue`,
    );
  }
  const messageId = record.messageId;
  if (typeof messageId !== 'string' || messageId === '') {
    throw new MalformedEventError(
      `${at}.messageId`,
      `must be a non-empty string (got ${describe(messageId)})`,
    );
  }
  if (typeof record.body !== 'string') {
    throw new MalformedEventError(`${at}.body`, `must be a string (got ${describe(record.body)})`);
  }
  const attributes = record.attributes;
  if (!isObject(attributes)) {
    throw new MalformedEventError(
      `${at}.attributes`,
      `must be an object (got ${describe(attributes)})`,
    );
  }
  const groupId = attributes.MessageGroupId;
  if (typeof groupId !== 'string' || groupId === '') {
    throw new MalformedEventError(
      `${at}.attributes.MessageGroupId`,
      `is missing (got ${describe(groupId)}): only FIFO queues give messages a group, and hookq needs one to keep their order`,
    );
  }
  const sequenceNumber = digits(attributes.SequenceNumber, `${at}.attributes.SequenceNumber`);
  const receiveCount = Number(
    digits(attributes.ApproximateReceiveCount, `${at}.attributes.ApproximateReceiveCount`),
  );
  if (receiveCount < 1) {
    throw new MalformedEventError(`${at}.attributes.ApproximateReceiveCount`, 'must be at least 1');
  }
  const sentAt = Number(digits(attributes.SentTimestamp, `${at}.attributes.SentTimestamp`));
  const dedupId = attributes.MessageDeduplicationId;

  const messageAttributes = record.messageAttributes ?? {};
  if (!isObject(messageAttributes)) {
    throw new MalformedEventError(
      `${at}.messageAttributes`,
      `must be an object (got ${describe(messageAttributes)})`,
    );
  }
  let routeAttribute: string | undefined;
  let receivedAt = sentAt;
  const headers: HeaderList = [];
  for (const [name, attribute] of Object.entries(messageAttributes)) {
    if (name === RECEIVED_AT_ATTRIBUTE) {
      const epochMs = numberAttribute(attribute);
      if (epochMs !== undefined) receivedAt = epochMs;
      continue;
    }
    const value = stringAttribute(attribute);
    if (value === undefined) continue;
    if (name === ROUTE_ATTRIBUTE) routeAttribute = value;
    else if (name.startsWith(HEADER_ATTRIBUTE_PREFIX)) {
      const header = name.slice(HEADER_ATTRIBUTE_PREFIX.length).toLowerCase();
      const text = value.startsWith(HEADER_VALUE_PREFIX)
        ? value.slice(HEADER_VALUE_PREFIX.length)
        : value;
      // An empty value is a header the request did not have.
      if (header !== '' && text !== '') headers.push([header, text]);
    }
  }

  return {
    messageId,
    body: record.body,
    groupId,
    sequenceNumber,
    receiveCount,
    sentAt,
    receivedAt,
    receiptHandle:
      typeof record.receiptHandle === 'string' && record.receiptHandle !== ''
        ? record.receiptHandle
        : undefined,
    queueArn: typeof record.eventSourceARN === 'string' ? record.eventSourceARN : undefined,
    dedupId: typeof dedupId === 'string' ? dedupId : undefined,
    routeAttribute,
    headers,
  };
}

/** Lambda spells attribute fields in camel case: {dataType: "String", stringValue: "..."}. */
function stringAttribute(attribute: unknown): string | undefined {
  if (!isObject(attribute)) return undefined;
  const type = attribute.dataType;
  if (typeof type !== 'string' || !type.startsWith('String')) return undefined;
  return typeof attribute.stringValue === 'string' ? attribute.stringValue : undefined;
}

/** A Number attribute holding whole epoch milliseconds; anything else is ignored. */
function numberAttribute(attribute: unknown): number | undefined {
  if (!isObject(attribute)) return undefined;
  const type = attribute.dataType;
  if (typeof type !== 'string' || !type.startsWith('Number')) return undefined;
  const text = attribute.stringValue;
  if (typeof text !== 'string' || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

function digits(value: unknown, path: string): string {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) {
    throw new MalformedEventError(path, `must be a string of digits (got ${describe(value)})`);
  }
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What a value is, shortly; bodies and ids can be long and are not repeated in full. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  }
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
