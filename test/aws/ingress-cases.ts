/**
 * The round trip provider → API Gateway → SQS → Lambda for the routes both tools are
 * tested with: each tool's mapping template is rendered as API Gateway would
 * (api-gateway.ts), the stored message handed to hookq's event parser. The same cases run
 * against the CDK construct's templates (webhook-queue.test.ts) and the Terraform plan's
 * (terraform.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebhookRouteProps } from '../../deploy/cdk/webhook-queue.js';
import { type FifoRecord, parseFifoEvent } from '../../src/aws/sqs-event.js';
import { groupIdFor, SQS_ID } from '../../src/aws/wire.js';
import { type ApiRequest, lambdaRecord, readSendMessage, renderTemplate } from './api-gateway.js';

export const TARGET = 'https://app.example.com/webhook';
export const GITHUB_SECRET = 'it is a secret to everybody';

/** The routes, in a neutral form each test turns into its tool's props. */
export const ROUTE_CASES = {
  approvals: {
    name: 'approvals',
    path: '/sqs-hook',
    target: TARGET,
    groupJson: '/approval/id',
    forwardHeaders: ['content-type', 'User-Agent'],
  },
  github: {
    name: 'github',
    path: '/hooks/github',
    target: `${TARGET}/github`,
    group: 'gh',
    dedupHeader: 'X-GitHub-Delivery',
    forwardHeaders: ['content-type', 'x-github-event'],
    verify: 'github' as const,
  },
  entities: {
    name: 'entities',
    path: '/hooks/entities',
    target: `${TARGET}/entities`,
    groupHeader: 'X-Entity-Id',
  },
  plain: { name: 'plain', path: '/plain', target: `${TARGET}/plain` },
};

export type RouteName = keyof typeof ROUTE_CASES;

/** ROUTE_CASES as the construct's props. */
export function cdkRoutes(): WebhookRouteProps[] {
  const { approvals, github, entities, plain } = ROUTE_CASES;
  const { verify, ...githubRoute } = github;
  const { groupJson, ...approvalsRoute } = approvals;
  const { groupHeader, ...entitiesRoute } = entities;
  return [
    { ...approvalsRoute, group: { json: groupJson } },
    { ...githubRoute, verify: { scheme: verify, secret: GITHUB_SECRET } },
    { ...entitiesRoute, group: { header: groupHeader } },
    plain,
  ];
}

/** ROUTE_CASES as the Terraform module's routes and verify_secrets. */
export function terraformRoutes(): { routes: unknown[]; verify_secrets: Record<string, string[]> } {
  const { approvals, github, entities, plain } = ROUTE_CASES;
  return {
    routes: [
      {
        name: approvals.name,
        path: approvals.path,
        target: approvals.target,
        group_json: approvals.groupJson,
        forward_headers: approvals.forwardHeaders,
      },
      {
        name: github.name,
        path: github.path,
        target: github.target,
        group: github.group,
        dedup_header: github.dedupHeader,
        forward_headers: github.forwardHeaders,
        verify: { scheme: github.verify },
      },
      {
        name: entities.name,
        path: entities.path,
        target: entities.target,
        group_header: entities.groupHeader,
      },
      { name: plain.name, path: plain.path, target: plain.target },
    ],
    verify_secrets: { github: [GITHUB_SECRET] },
  };
}

/** Send one request through a route's template, SQS and the event source mapping. */
export function deliver(template: string, request: ApiRequest): FifoRecord {
  const message = readSendMessage(renderTemplate(template, request));
  const [record] = parseFifoEvent({ Records: [lambdaRecord(message)] });
  assert.ok(record);
  return record;
}

/** Register the round-trip tests for one tool; `templateOf` is called inside the tests. */
export function roundTripTests(templateOf: (route: RouteName) => string): void {
  const json = { 'Content-Type': 'application/json' };

  test('header values reach the application exactly, and none can add or change a parameter', () => {
    const hostile = {
      'Content-Type': 'application/json; charset="utf-8"',
      // A quote and a backslash, as User-Agent and charset parameters may hold them, and
      // attempts to end a value and add parameters or attributes of their own.
      'X-GitHub-Event': 'push"},"route":{"DataType":"String","StringValue":"plain"}',
      'X-Hub-Signature-256':
        'sha256=ab\\"&MessageAttribute.1.Value.StringValue=plain&MessageGroupId=other',
      'X-GitHub-Delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    };
    const record = deliver(templateOf('github'), { headers: hostile, body: '{"zen":"ok"}' });
    assert.equal(record.routeAttribute, 'github');
    assert.equal(record.groupId, 'gh');
    assert.equal(record.dedupId, '72d3162e-cc78-11e3-81ab-4c9367dc0958');
    assert.deepEqual(record.headers, [
      ['content-type', 'application/json; charset="utf-8"'],
      ['x-github-event', hostile['X-GitHub-Event']],
      ['x-hub-signature-256', hostile['X-Hub-Signature-256']],
    ]);
  });

  test('header names match whatever their case; absent headers are not carried', () => {
    const record = deliver(templateOf('approvals'), {
      headers: {
        'USER-AGENT': 'GitHub-Hookshot/1 (+"quoted")',
        'content-type': 'application/json',
      },
      body: '{"approval":{"id":"A-1"}}',
    });
    assert.deepEqual(record.headers, [
      ['content-type', 'application/json'],
      ['user-agent', 'GitHub-Hookshot/1 (+"quoted")'],
    ]);
    const bare = deliver(templateOf('approvals'), { headers: {}, body: '{}' });
    assert.deepEqual(bare.headers, []);
  });

  test('the body is stored byte for byte, whatever it holds', () => {
    for (const body of [
      '{"text":"a&b=c+d%20 caf\u00e9 \\" \\\\ \u2713","n":1}\n',
      'payload=%7B%22a%22%3A1%7D&token=x+y',
      '<event id="1">&amp;</event>',
    ]) {
      const record = deliver(templateOf('plain'), { headers: json, body });
      assert.equal(record.body, body);
    }
  });

  test('a group from a header: the route name without one, <route>:<value>, or encoded', () => {
    const groupOf = (value: string | undefined) =>
      deliver(templateOf('entities'), {
        headers: value === undefined ? json : { ...json, 'X-Entity-Id': value },
        body: '{}',
      }).groupId;
    assert.equal(groupOf(undefined), 'entities');
    assert.equal(groupOf(''), 'entities');
    assert.equal(groupOf('order-17'), 'entities:order-17');
    assert.equal(groupOf(`it's/#1[ok]`), `entities:it's/#1[ok]`);
    const awkward = ['two words', 'na\u00efve', '\u65e5\u672c', 'x'.repeat(200), 'y'.repeat(120)];
    for (const value of awkward) {
      const group = groupOf(value);
      assert.match(group, SQS_ID, `${value}: a group id SQS accepts`);
      assert.equal(group, groupIdFor('entities', value));
      assert.ok(group.startsWith('entities~'), group);
    }
    // Different values, different groups, as far as 128 characters can tell them apart.
    assert.notEqual(groupOf('two words'), groupOf('two  words'));
    assert.equal(groupOf('x'.repeat(119)), `entities:${'x'.repeat(119)}`, 'the longest plain id');
  });

  test('a group from the JSON body: strings and numbers, else the route name', () => {
    const groupOf = (body: string) =>
      deliver(templateOf('approvals'), { headers: json, body }).groupId;
    assert.equal(groupOf('{"approval":{"id":"A-1"},"status":"approved"}'), 'approvals:A-1');
    assert.equal(groupOf('{"approval":{"id":42}}'), 'approvals:42');
    assert.equal(groupOf('{"approval":{}}'), 'approvals');
    assert.equal(
      groupOf('{"approval":{"id":"with space"}}'),
      groupIdFor('approvals', 'with space'),
    );
  });

  test('a static group, and the route name by default', () => {
    assert.equal(deliver(templateOf('github'), { headers: json, body: '{}' }).groupId, 'gh');
    assert.equal(deliver(templateOf('plain'), { headers: json, body: '{}' }).groupId, 'plain');
  });

  test('a provider delivery id deduplicates when SQS accepts it; otherwise the content does', () => {
    const dedupOf = (value: string | undefined) => {
      const request: ApiRequest = {
        headers: value === undefined ? json : { ...json, 'X-GitHub-Delivery': value },
        body: '{}',
      };
      return readSendMessage(renderTemplate(templateOf('github'), request)).dedupId;
    };
    assert.equal(
      dedupOf('72d3162e-cc78-11e3-81ab-4c9367dc0958'),
      '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    );
    assert.equal(dedupOf(undefined), undefined);
    assert.equal(dedupOf('has space'), undefined);
    assert.equal(dedupOf('z'.repeat(129)), undefined, 'never cut: two ids must not become one');
    const plain = readSendMessage(
      renderTemplate(templateOf('plain'), { headers: json, body: '{}' }),
    );
    assert.equal(plain.dedupId, undefined, 'content-based by default');
  });

  test('the receive time rides along, so verification and Hookq-Received-At survive a redrive', () => {
    const record = deliver(templateOf('plain'), {
      headers: json,
      body: '{}',
      requestTimeEpoch: 1_700_000_000_999,
    });
    assert.equal(record.receivedAt, 1_700_000_000_999);
    assert.equal(record.routeAttribute, 'plain');
  });
}
