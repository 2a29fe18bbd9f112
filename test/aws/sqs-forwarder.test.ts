import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, afterEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadLambdaConfig } from '../../src/aws/lambda-config.js';
import { type FifoRecord, MalformedEventError } from '../../src/aws/sqs-event.js';
import {
  createSqsForwarder,
  type SqsForwarderHandler,
  type SqsForwarderOptions,
} from '../../src/aws/sqs-forwarder.js';
import { Forwarder } from '../../src/delivery/forwarder.js';
import { verifySignature } from '../../src/ingress/verify/index.js';
import { type Behaviour, TestTarget } from '../helpers/target.js';
import { BASE_SEQUENCE, contextWith, fifoEvent, fifoRecord } from './fifo-events.js';

type LogLine = Record<string, unknown> & { msg: string; level: number };

const forwarder = new Forwarder();
const targets: TestTarget[] = [];

after(() => forwarder.close());
afterEach(async () => {
  await Promise.all(targets.splice(0).map((target) => target.close()));
});

async function target(behaviour?: Behaviour): Promise<TestTarget> {
  const started = await TestTarget.start(behaviour);
  targets.push(started);
  return started;
}

/** A handler configured through its real environment variables, logging into `lines`. */
function handlerFor(
  env: Record<string, string>,
  options: Partial<SqsForwarderOptions> = {},
): {
  handler: SqsForwarderHandler;
  lines: LogLine[];
} {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line !== '') lines.push(JSON.parse(line) as LogLine);
      }
      done();
    },
  });
  const config = loadLambdaConfig(env);
  const handler = createSqsForwarder(config, {
    logger: pino({ level: 'info' }, sink),
    forwarder,
    ...options,
  });
  return { handler, lines };
}

function routesEnv(routes: unknown[]): string {
  return JSON.stringify(routes);
}

/** The environment of a forwarder with one route, `approvals`, delivering to `app`. */
function approvalsEnv(app: TestTarget): Record<string, string> {
  return { HOOKQ_ROUTES: routesEnv([{ name: 'approvals', target: app.url }]) };
}

const bodies = (t: TestTarget) => t.received.map((r) => r.body.toString('utf8'));
const failed = (ids: string[]) => ({
  batchItemFailures: ids.map((itemIdentifier) => ({ itemIdentifier })),
});

describe('Lambda forwarder: delivery', () => {
  test('forwards each record in order with its exact body, carried headers and Hookq-* headers', async () => {
    const app = await target();
    const { handler } = handlerFor(approvalsEnv(app));
    const records = [
      fifoRecord({
        body: '{"id":1,"text":"caf\u00e9 \u2713"}',
        headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'req-7' },
        receiveCount: 3,
        sentTimestamp: 1_700_000_000_123,
        sequence: BASE_SEQUENCE + 1n,
      }),
      // An empty value is a header the request did not have: it is not forwarded.
      fifoRecord({
        body: 'second',
        headers: { 'content-type': '', 'user-agent': 'GitHub-Hookshot/1' },
      }),
      fifoRecord({ body: 'third' }),
    ];

    const result = await handler(fifoEvent(...records), contextWith(30_000));

    assert.deepEqual(result, { batchItemFailures: [] });
    assert.deepEqual(bodies(app), ['{"id":1,"text":"caf\u00e9 \u2713"}', 'second', 'third']);
    const first = app.received[0]!;
    assert.equal(first.body.toString('utf8'), records[0]!.body, 'body bytes unchanged');
    assert.equal(first.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(first.headers['x-request-id'], 'req-7');
    assert.equal(first.headers['hookq-message-id'], records[0]!.messageId);
    assert.equal(first.headers['hookq-group-id'], 'approvals');
    // The exact SQS sequence number, beyond what a JavaScript number holds.
    assert.equal(first.headers['hookq-sequence'], String(BASE_SEQUENCE + 1n));
    assert.equal(first.headers['hookq-attempt'], '3');
    assert.equal(first.headers['hookq-route'], 'approvals');
    assert.equal(first.headers['hookq-received-at'], '2023-11-14T22:13:20.123Z');
    const second = app.received[1]!;
    assert.equal(second.headers['user-agent'], 'GitHub-Hookshot/1');
    assert.equal(second.rawHeaders.filter(([name]) => name === 'content-type').length, 0);
  });

  test('HOOKQ_FORWARD_HEADERS limits the carried headers that are forwarded', async () => {
    const app = await target();
    const { handler } = handlerFor({
      ...approvalsEnv(app),
      HOOKQ_FORWARD_HEADERS: 'Content-Type',
    });
    await handler(
      fifoEvent(fifoRecord({ headers: { 'content-type': 'text/plain', 'x-secret-ish': 'no' } })),
      contextWith(30_000),
    );
    assert.equal(app.received[0]!.headers['content-type'], 'text/plain');
    assert.equal(app.received[0]!.headers['x-secret-ish'], undefined);
  });

  test('maps records to targets by the route attribute, else by message group id', async () => {
    const approvals = await target();
    const billing = await target();
    const { handler } = handlerFor({
      HOOKQ_ROUTES: routesEnv([
        { name: 'approvals', target: approvals.url, groups: ['sss-*'] },
        { name: 'billing', target: billing.url, groups: ['stripe'] },
      ]),
    });
    const event = fifoEvent(
      fifoRecord({ body: 'attribute wins', route: 'billing', group: 'sss-1' }),
      fifoRecord({ body: 'listed group', route: null, group: 'stripe' }),
      fifoRecord({ body: 'group is a route name', route: null, group: 'approvals' }),
      fifoRecord({ body: 'group prefix', route: null, group: 'sss-42' }),
    );

    assert.deepEqual(await handler(event, contextWith(30_000)), { batchItemFailures: [] });
    assert.deepEqual(bodies(billing), ['attribute wins', 'listed group']);
    assert.deepEqual(bodies(approvals), ['group is a route name', 'group prefix']);
    assert.deepEqual(
      billing.received.map((r) => r.headers['hookq-route']),
      ['billing', 'billing'],
    );
    assert.equal(approvals.received[1]!.headers['hookq-group-id'], 'sss-42');
  });

  test('signs forwarded requests with HOOKQ_SIGNING_SECRET (Standard Webhooks)', async () => {
    const secret = `whsec_${Buffer.from('hookq lambda signing key, 32 b.').toString('base64')}`;
    const app = await target();
    const { handler } = handlerFor({
      ...approvalsEnv(app),
      HOOKQ_SIGNING_SECRET: secret,
    });
    const record = fifoRecord({ body: '{"signed":true}' });
    await handler(fifoEvent(record), contextWith(30_000));

    const received = app.received[0]!;
    assert.equal(received.headers['webhook-id'], record.messageId);
    const header = (name: string) => received.headers[name] as string | undefined;
    const verdict = verifySignature(
      { scheme: 'standard-webhooks', secrets: [secret], toleranceMs: 60_000 },
      header,
      received.body,
      Date.now(),
    );
    assert.deepEqual(verdict, { ok: true });
  });

  test('with its own forwarder, every invocation delivers (connections are not kept across)', async () => {
    const app = await target();
    const config = loadLambdaConfig(approvalsEnv(app));
    const handler = createSqsForwarder(config, { logger: pino({ level: 'silent' }) });
    for (const body of ['first invocation', 'second invocation']) {
      const result = await handler(fifoEvent(fifoRecord({ body })), contextWith(30_000));
      assert.deepEqual(result, { batchItemFailures: [] });
    }
    assert.deepEqual(bodies(app), ['first invocation', 'second invocation']);
  });

  test('an empty batch is answered with no failures', async () => {
    const { handler } = handlerFor({
      HOOKQ_ROUTES: routesEnv([{ name: 'approvals', target: 'http://127.0.0.1:9/unused' }]),
    });
    assert.deepEqual(await handler({ Records: [] }, contextWith(30_000)), {
      batchItemFailures: [],
    });
  });
});

describe('Lambda forwarder: signature verification (the route’s verify)', () => {
  const SECRET = 'whsec_stripe_test_secret';
  /** When the provider sent the webhook: years before the test runs. */
  const SENT = 1_573_251_510_000;
  const stripeSignature = (body: string, atMs: number, secret = SECRET) => {
    const t = Math.floor(atMs / 1000);
    const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
    return `t=${t},v1=${v1}`;
  };
  const stripeRoutes = (url: string) =>
    routesEnv([{ name: 'stripe', target: url, verify: { scheme: 'stripe', secret: SECRET } }]);
  const signed = (body: string, options: Parameters<typeof fifoRecord>[0] = {}) =>
    fifoRecord({
      body,
      route: 'stripe',
      headers: { 'stripe-signature': stripeSignature(body, SENT) },
      ...options,
    });

  test('a valid signature is verified against the time the webhook arrived, not the clock', async () => {
    const app = await target();
    const { handler } = handlerFor({ HOOKQ_ROUTES: stripeRoutes(app.url) });
    const records = [
      // A retry, received long after it arrived: SentTimestamp is the arrival.
      signed('{"n":1}', { sentTimestamp: SENT + 400, receiveCount: 4 }),
      // A redriven message: a new SentTimestamp two days later, the received-at kept.
      signed('{"n":2}', { sentTimestamp: SENT + 2 * 86_400_000, receivedAt: SENT + 300 }),
    ];
    assert.deepEqual(await handler(fifoEvent(...records), contextWith(30_000)), {
      batchItemFailures: [],
    });
    assert.deepEqual(bodies(app), ['{"n":1}', '{"n":2}']);
    assert.equal(app.received[1]!.headers['hookq-received-at'], new Date(SENT + 300).toISOString());
    assert.ok(app.received[0]!.headers['stripe-signature'], 'the signature is forwarded too');
  });

  test('a bad signature is not forwarded: reported, its reason logged, made visible at once for the DLQ', async () => {
    const app = await target();
    const released: FifoRecord[] = [];
    const { handler, lines } = handlerFor(
      { HOOKQ_ROUTES: stripeRoutes(app.url), HOOKQ_MAX_RECEIVE_COUNT: '3' },
      {
        releaseNow: async (record) => {
          released.push(record);
        },
      },
    );
    const forged = fifoRecord({
      body: '{"amount":1000000}',
      route: 'stripe',
      sentTimestamp: SENT + 100,
      headers: { 'stripe-signature': stripeSignature('{"amount":1}', SENT) },
    });
    const later = signed('{"n":2}', { sentTimestamp: SENT + 200 });

    const result = await handler(fifoEvent(forged, later), contextWith(30_000));

    assert.deepEqual(result, failed([forged.messageId, later.messageId]));
    assert.deepEqual(bodies(app), [], 'nothing reaches the application');
    assert.deepEqual(
      released.map((r) => [r.messageId, r.receiptHandle, r.queueArn]),
      [[forged.messageId, forged.receiptHandle, forged.eventSourceARN]],
    );
    const line = lines.find((l) => l.msg === 'signature verification failed: not forwarded');
    assert.ok(line, JSON.stringify(lines));
    assert.equal(line.level, 50);
    assert.equal(line.messageId, forged.messageId);
    assert.equal(line.reason, 'signature does not match');
    assert.equal(line.scheme, 'stripe');
    assert.match(
      String(line.next),
      /received again at once, until SQS moves it to the dead-letter queue/,
    );
    assert.ok(!JSON.stringify(lines).includes(SECRET), 'the secret is never logged');

    // Its last receive: the log says it goes to the dead-letter queue now.
    const last = { ...forged, attributes: { ...forged.attributes, ApproximateReceiveCount: '3' } };
    await handler(fifoEvent(last), contextWith(30_000));
    assert.equal(lines.at(-1)?.next, 'dead-letter queue');
  });

  test('a missing or stale signature is refused with its reason', async () => {
    const app = await target();
    const { handler, lines } = handlerFor({ HOOKQ_ROUTES: stripeRoutes(app.url) });
    const missing = fifoRecord({ body: '{}', route: 'stripe' });
    await handler(fifoEvent(missing), contextWith(30_000));
    // Signed ten minutes before it arrived: outside Stripe's 5-minute tolerance.
    const stale = fifoRecord({
      body: '{}',
      route: 'stripe',
      receivedAt: SENT + 600_000,
      headers: { 'stripe-signature': stripeSignature('{}', SENT) },
    });
    await handler(fifoEvent(stale), contextWith(30_000));
    assert.deepEqual(bodies(app), []);
    assert.deepEqual(
      lines.filter((l) => l.reason !== undefined).map((l) => l.reason),
      ['missing Stripe-Signature header', 'timestamp outside the 5m tolerance'],
    );
  });

  test('when the message cannot be made visible at once, it still fails, and returns later', async () => {
    const app = await target();
    const { handler, lines } = handlerFor(
      { HOOKQ_ROUTES: stripeRoutes(app.url) },
      {
        releaseNow: async () => {
          throw new Error('SQS ChangeMessageVisibility answered 403 AccessDenied');
        },
      },
    );
    const forged = fifoRecord({
      body: '{}',
      route: 'stripe',
      headers: { 'stripe-signature': 't=1,v1=00' },
    });
    assert.deepEqual(
      await handler(fifoEvent(forged), contextWith(30_000)),
      failed([forged.messageId]),
    );
    const warning = lines.find((l) =>
      l.msg.startsWith('could not make the rejected message visible'),
    );
    assert.match(String(warning?.error), /403 AccessDenied/);
  });

  test('routes without verify forward as before', async () => {
    const app = await target();
    const { handler } = handlerFor(approvalsEnv(app));
    const record = fifoRecord({ headers: { 'stripe-signature': 'garbage' } });
    assert.deepEqual(await handler(fifoEvent(record), contextWith(30_000)), {
      batchItemFailures: [],
    });
  });
});

describe('Lambda forwarder: partial batch failures (the FIFO rule)', () => {
  test('a failure returns that record and every later one; later ones are never sent', async () => {
    const app = await target((_request, index) => (index === 1 ? 500 : 200));
    const { handler, lines } = handlerFor({
      ...approvalsEnv(app),
      HOOKQ_MAX_RECEIVE_COUNT: '5',
    });
    // Two groups interleaved: B1 fails, and A2 (another group) is held back too, since
    // AWS requires the FIFO consumer to stop at the first failure.
    const a1 = fifoRecord({ body: 'A1', group: 'a' });
    const b1 = fifoRecord({ body: 'B1', group: 'b', receiveCount: 5 });
    const a2 = fifoRecord({ body: 'A2', group: 'a' });
    const b2 = fifoRecord({ body: 'B2', group: 'b' });

    const result = await handler(fifoEvent(a1, b1, a2, b2), contextWith(30_000));

    assert.deepEqual(result, failed([b1.messageId, a2.messageId, b2.messageId]));
    assert.deepEqual(bodies(app), ['A1', 'B1']);
    const failure = lines.find((line) => line.msg === 'delivery failed');
    assert.ok(failure, 'the failure is logged');
    assert.equal(failure.messageId, b1.messageId);
    assert.equal(failure.outcome, 'http_error');
    assert.equal(failure.status, 500);
    assert.equal(failure.next, 'dead-letter queue', 'receive 5 of 5 is the last');
    const stopped = lines.find((line) => line.msg.startsWith('batch stopped'));
    assert.deepEqual(stopped?.notStarted, [a2.messageId, b2.messageId]);
  });

  test('a failure of the first record returns the whole batch', async () => {
    const app = await target(() => 503);
    const { handler } = handlerFor(approvalsEnv(app));
    const records = [fifoRecord(), fifoRecord(), fifoRecord()];
    const result = await handler(fifoEvent(...records), contextWith(30_000));
    assert.deepEqual(result, failed(records.map((r) => r.messageId)));
    assert.equal(app.received.length, 1);
  });

  test('a 3xx is a failure too: only 2xx delivers', async () => {
    const app = await target(() => 302);
    const { handler } = handlerFor(approvalsEnv(app));
    const record = fifoRecord();
    assert.deepEqual(
      await handler(fifoEvent(record), contextWith(30_000)),
      failed([record.messageId]),
    );
  });

  test('a refused connection fails the record', async () => {
    const app = await target();
    await app.down();
    const { handler, lines } = handlerFor(approvalsEnv(app));
    const records = [fifoRecord(), fifoRecord()];
    const result = await handler(fifoEvent(...records), contextWith(30_000));
    assert.deepEqual(result, failed(records.map((r) => r.messageId)));
    const failure = lines.find((line) => line.msg === 'delivery failed');
    assert.equal(failure?.outcome, 'network_error');
    assert.equal(failure?.next, 'retry after the visibility timeout');
  });

  test('a record with no route fails in its place: earlier records delivered, later ones held', async () => {
    const app = await target();
    const { handler, lines } = handlerFor(approvalsEnv(app));
    const ok = fifoRecord({ body: 'ok' });
    const unknownRoute = fifoRecord({ body: 'lost?', route: 'payments' });
    const unknownGroup = fifoRecord({ body: 'later', route: null, group: 'nobody' });
    const result = await handler(fifoEvent(ok, unknownRoute, unknownGroup), contextWith(30_000));

    assert.deepEqual(result, failed([unknownRoute.messageId, unknownGroup.messageId]));
    assert.deepEqual(bodies(app), ['ok']);
    const noRoute = lines.find((line) => line.msg === 'no route');
    assert.match(String(noRoute?.error), /"payments", which HOOKQ_ROUTES does not list/);

    const alone = await handler(fifoEvent(unknownGroup), contextWith(30_000));
    assert.deepEqual(alone, failed([unknownGroup.messageId]));
    assert.match(
      String(lines.filter((line) => line.msg === 'no route').at(-1)?.error),
      /no route in HOOKQ_ROUTES takes message group "nobody"/,
    );
  });
});

describe('Lambda forwarder: timeouts and the deadline', () => {
  test('a target that does not answer within the route timeout fails the record', async () => {
    const app = await target(() => 'hang');
    const { handler, lines } = handlerFor({
      HOOKQ_ROUTES: routesEnv([{ name: 'approvals', target: app.url, timeout: '300ms' }]),
      HOOKQ_TIMEOUT: '20s',
    });
    const records = [fifoRecord(), fifoRecord()];
    const started = performance.now();
    const result = await handler(fifoEvent(...records), contextWith(30_000));
    const elapsed = performance.now() - started;

    assert.deepEqual(result, failed(records.map((r) => r.messageId)));
    assert.ok(elapsed >= 250 && elapsed < 3_000, `gave up after ${Math.round(elapsed)}ms`);
    assert.equal(app.received.length, 1, 'the second record is not sent after a timeout');
    assert.equal(lines.find((line) => line.msg === 'delivery failed')?.outcome, 'timeout');
  });

  test('a hanging target cannot outlast the invocation: the request ends at the own deadline', async () => {
    const app = await target(() => 'hang');
    const { handler } = handlerFor({
      ...approvalsEnv(app),
      HOOKQ_TIMEOUT: '5m',
      HOOKQ_DEADLINE_MARGIN: '300ms',
    });
    const record = fifoRecord();
    const started = performance.now();
    const result = await handler(fifoEvent(record), contextWith(1_500));
    const elapsed = performance.now() - started;

    assert.deepEqual(result, failed([record.messageId]));
    // Remaining 1.5s less the 300ms margin: the answer comes before Lambda would time out.
    assert.ok(elapsed >= 1_000 && elapsed < 1_500, `answered after ${Math.round(elapsed)}ms`);
  });

  test('a later record whose timeout no longer fits is not started, and returned', async () => {
    const app = await target();
    const { handler, lines } = handlerFor({
      HOOKQ_ROUTES: routesEnv([{ name: 'approvals', target: app.url, timeout: '5s' }]),
      HOOKQ_DEADLINE_MARGIN: '500ms',
    });
    const records = [fifoRecord({ body: 'first' }), fifoRecord({ body: 'second' }), fifoRecord()];
    // 3s left: the first record may use them, the second would need 5s.
    const result = await handler(fifoEvent(...records), contextWith(3_000));

    assert.deepEqual(result, failed([records[1]!.messageId, records[2]!.messageId]));
    assert.deepEqual(bodies(app), ['first']);
    const deferred = lines.find((line) => line.msg.startsWith('not started'));
    assert.equal(deferred?.messageId, records[1]!.messageId);
  });

  test('with no time left at all nothing is sent', async () => {
    const app = await target();
    const { handler } = handlerFor(approvalsEnv(app));
    const record = fifoRecord();
    // 800ms left, all of it inside the default 1s margin.
    assert.deepEqual(
      await handler(fifoEvent(record), contextWith(800)),
      failed([record.messageId]),
    );
    assert.equal(app.received.length, 0);
  });
});

describe('Lambda forwarder: malformed events', () => {
  const valid = () => fifoRecord();
  const without = (field: string) => {
    const record = fifoRecord() as unknown as { attributes: Record<string, unknown> };
    delete record.attributes[field];
    return record;
  };
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['no event at all', () => null, /is not an SQS event: expected an object with a Records list/],
    ['an API Gateway event', () => ({ body: '{}', headers: {} }), /is not an SQS event/],
    ['Records that is not a list', () => ({ Records: { 0: valid() } }), /Records must be a list/],
    [
      'a record that is not an object',
      () => ({ Records: [valid(), 'x'] }),
      /Records\[1\] must be an object/,
    ],
    [
      'a record from another event source',
      () => ({ Records: [{ ...valid(), eventSource: 'aws:kinesis' }] }),
      /Records\[0\]\.eventSource must be "aws:sqs" \(got "aws:kinesis"\)/,
    ],
    [
      'a record of a standard queue (no MessageGroupId)',
      () => ({ Records: [without('MessageGroupId')] }),
      /Records\[0\]\.attributes\.MessageGroupId is missing .*only FIFO queues/,
    ],
    [
      'a record without SequenceNumber',
      () => ({ Records: [without('SequenceNumber')] }),
      /Records\[0\]\.attributes\.SequenceNumber must be a string of digits/,
    ],
    [
      'a receive count that is not a number',
      () => ({
        Records: [
          { ...valid(), attributes: { ...valid().attributes, ApproximateReceiveCount: 'x' } },
        ],
      }),
      /ApproximateReceiveCount must be a string of digits \(got "x"\)/,
    ],
    [
      'a body that is not text',
      () => ({ Records: [{ ...valid(), body: 42 }] }),
      /Records\[0\]\.body must be a string/,
    ],
    [
      'a record without messageId',
      () => ({ Records: [{ ...valid(), messageId: '' }] }),
      /messageId must be a non-empty string/,
    ],
    [
      'the same message twice',
      () => {
        const record = valid();
        return { Records: [record, { ...record }] };
      },
      /Records\[1\]\.messageId repeats/,
    ],
  ];

  for (const [name, event, message] of cases) {
    test(`rejects ${name}, sending nothing`, async () => {
      const app = await target();
      const { handler, lines } = handlerFor(approvalsEnv(app));
      await assert.rejects(handler(event(), contextWith(30_000)), (error: unknown) => {
        assert.ok(error instanceof MalformedEventError, String(error));
        assert.match(error.message, /^malformed SQS event: /);
        assert.match(error.message, message);
        return true;
      });
      assert.equal(app.received.length, 0, 'a valid record before the bad one is not sent either');
      assert.equal(lines.find((line) => line.msg === 'malformed event')?.level, 50);
    });
  }
});

describe('Lambda forwarder: logs', () => {
  test('one JSON line per delivery with the message id and request id, never the body', async () => {
    const app = await target();
    const { handler, lines } = handlerFor(approvalsEnv(app));
    const records = [
      fifoRecord({ body: '{"card":"4111-SECRET-BODY"}', group: 'g1' }),
      fifoRecord({ body: '{"card":"4111-SECRET-BODY"}', group: 'g2' }),
    ];
    await handler(fifoEvent(...records), contextWith(30_000));

    const delivered = lines.filter((line) => line.msg === 'delivered');
    assert.deepEqual(
      delivered.map((line) => [line.messageId, line.route, line.group, line.status]),
      [
        [records[0]!.messageId, 'approvals', 'g1', 200],
        [records[1]!.messageId, 'approvals', 'g2', 200],
      ],
    );
    assert.equal(delivered[0]!.sequence, records[0]!.attributes.SequenceNumber);
    assert.equal(delivered[0]!.requestId, 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef');
    assert.ok(!JSON.stringify(lines).includes('SECRET-BODY'), 'bodies stay out of the logs');
  });
});
