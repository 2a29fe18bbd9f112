/**
 * The forwarder's one SQS call of its own, ChangeMessageVisibility: signed with Signature
 * Version 4 (checked against AWS's published test-suite vectors) and sent to a local
 * stand-in for SQS that checks the signature the way SQS does.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import {
  amzDate,
  changeMessageVisibility,
  credentialsFromEnv,
  queueAddress,
  signV4,
} from '../../src/aws/sqs-client.js';
import { QUEUE_ARN } from './fifo-events.js';

/** The credentials of AWS's Signature Version 4 test suite. */
const EXAMPLE = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const SUITE_DATE = '20150830T123600Z';

describe('Signature Version 4', () => {
  const suite = (method: string, url: string) =>
    signV4({
      method,
      url: new URL(url),
      headers: { host: 'example.amazonaws.com', 'x-amz-date': SUITE_DATE },
      body: '',
      region: 'us-east-1',
      service: 'service',
      credentials: EXAMPLE,
      amzDate: SUITE_DATE,
    });

  test('get-vanilla and post-vanilla of AWS’s test suite', () => {
    const prefix =
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=';
    assert.equal(
      suite('GET', 'https://example.amazonaws.com/'),
      `${prefix}5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31`,
    );
    assert.equal(
      suite('POST', 'https://example.amazonaws.com/'),
      `${prefix}5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b`,
    );
  });

  test('get-vanilla-query-order-key-case: the query is sorted before signing', () => {
    assert.match(
      suite('GET', 'https://example.amazonaws.com/?Param2=value2&Param1=value1'),
      /Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/,
    );
  });

  test('x-amz-date is the ISO time without separators', () => {
    assert.equal(amzDate(Date.UTC(2015, 7, 30, 12, 36, 0, 456)), SUITE_DATE);
  });
});

describe('the queue of an event source ARN', () => {
  test('gives the queue URL and region', () => {
    assert.deepEqual(queueAddress(QUEUE_ARN), {
      region: 'us-east-2',
      url: 'https://sqs.us-east-2.amazonaws.com/123456789012/hookq-webhooks.fifo',
    });
    assert.equal(
      queueAddress('arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo')?.url,
      'https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo',
    );
    assert.equal(queueAddress('arn:aws:sns:us-east-2:123456789012:topic'), undefined);
  });

  test('Lambda’s credentials come from the environment', () => {
    assert.deepEqual(
      credentialsFromEnv({
        AWS_ACCESS_KEY_ID: 'AKID',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_SESSION_TOKEN: 'token',
      }),
      { accessKeyId: 'AKID', secretAccessKey: 'secret', sessionToken: 'token' },
    );
    assert.equal(credentialsFromEnv({}), undefined);
  });
});

describe('ChangeMessageVisibility', () => {
  async function fakeSqs(status: number, answer: string) {
    const requests: Array<{
      method: string;
      path: string;
      headers: Record<string, string>;
      body: string;
    }> = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      request.on('end', () => {
        requests.push({
          method: request.method ?? '',
          path: request.url ?? '',
          headers: request.headers as Record<string, string>,
          body,
        });
        response.writeHead(status, { 'content-type': 'text/xml' }).end(answer);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    return { requests, endpoint: `http://127.0.0.1:${port}`, close: () => server.close() };
  }

  const credentials = { ...EXAMPLE, sessionToken: 'session-token' };
  const now = () => Date.UTC(2024, 0, 2, 3, 4, 5);

  test('sends a signed query-protocol request to the queue, as SQS checks it', async () => {
    const sqs = await fakeSqs(200, '<ChangeMessageVisibilityResponse/>');
    try {
      await changeMessageVisibility({
        queueArn: QUEUE_ARN,
        receiptHandle: 'AQEB+/=receipt handle',
        visibilityTimeoutSeconds: 0,
        credentials,
        endpoint: sqs.endpoint,
        now,
      });
      const [request] = sqs.requests;
      assert.ok(request);
      assert.equal(request.method, 'POST');
      assert.equal(request.path, '/123456789012/hookq-webhooks.fifo');
      assert.deepEqual(Object.fromEntries(new URLSearchParams(request.body)), {
        Action: 'ChangeMessageVisibility',
        ReceiptHandle: 'AQEB+/=receipt handle',
        VisibilityTimeout: '0',
        Version: '2012-11-05',
      });
      assert.equal(request.headers['x-amz-date'], '20240102T030405Z');
      assert.equal(request.headers['x-amz-security-token'], 'session-token');
      // What SQS does: sign the request it received again and compare.
      const signedHeaders = ['content-type', 'host', 'x-amz-date', 'x-amz-security-token'];
      const expected = signV4({
        method: 'POST',
        url: new URL(request.path, sqs.endpoint),
        headers: Object.fromEntries(signedHeaders.map((name) => [name, request.headers[name]!])),
        body: request.body,
        region: 'us-east-2',
        service: 'sqs',
        credentials,
        amzDate: '20240102T030405Z',
      });
      assert.equal(request.headers.authorization, expected);
      assert.match(expected, /Credential=AKIDEXAMPLE\/20240102\/us-east-2\/sqs\/aws4_request/);
    } finally {
      sqs.close();
    }
  });

  test('a refusal is an error naming SQS’s code', async () => {
    const sqs = await fakeSqs(
      403,
      '<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>',
    );
    try {
      await assert.rejects(
        changeMessageVisibility({
          queueArn: QUEUE_ARN,
          receiptHandle: 'r',
          visibilityTimeoutSeconds: 0,
          credentials,
          endpoint: sqs.endpoint,
        }),
        /answered 403 AccessDenied/,
      );
    } finally {
      sqs.close();
    }
  });
});
