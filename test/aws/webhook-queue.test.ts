/**
 * The CDK construct, checked on its synthesized CloudFormation template (offline: an
 * environment-agnostic or explicit-environment stack needs no AWS lookups).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { exampleStack } from '../../deploy/cdk/app.js';
import {
  LOG_ACTIONS,
  RECEIVE_ACTIONS,
  WEBHOOK_QUEUE_DEFAULTS,
  WebhookQueue,
  type WebhookQueueProps,
  type WebhookRouteProps,
} from '../../deploy/cdk/webhook-queue.js';
import { loadLambdaConfig } from '../../src/aws/lambda-config.js';
import { parseFifoEvent } from '../../src/aws/sqs-event.js';
import { tempDir } from '../helpers/config.js';
import { fifoRecord } from './fifo-events.js';

/** A synthesized template is untyped JSON; the assertions say what shape they expect. */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON, checked by the assertions
type Cfn = any;

const TARGET = 'https://app.example.com/webhook';
const SECRET = `whsec_${Buffer.from('hookq lambda signing key, 32 b.').toString('base64')}`;
const CODE = lambda.Code.fromInline(
  'export const handler = async () => ({ batchItemFailures: [] });',
);

const ROUTES: WebhookRouteProps[] = [
  { name: 'approvals', path: '/sqs-hook', target: TARGET, group: { header: 'X-Request-Id' } },
  {
    name: 'github',
    path: '/github',
    target: `${TARGET}/github`,
    group: 'github-events',
    dedupHeader: 'X-GitHub-Delivery',
    forwardHeaders: ['Content-Type', 'X-GitHub-Event', 'X-Hub-Signature-256'],
  },
  { name: 'plain', path: '/plain', target: `${TARGET}/plain`, forwardHeaders: [] },
];

/** CloudFormation's own schema checks of the template fail the synthesis instead of warning. */
const STRICT = { '@aws-cdk/core:validateAgainstDefaultRules': true };

function build(props: Partial<WebhookQueueProps> = {}): { stack: Stack; template: Template } {
  const app = new App({ context: STRICT });
  const stack = new Stack(app, 'Test', {
    env: { account: '123456789012', region: 'ap-northeast-1' },
  });
  new WebhookQueue(stack, 'Webhooks', { routes: ROUTES, lambdaCode: CODE, ...props });
  return { stack, template: Template.fromStack(stack) };
}

/** The one resource of a type whose properties match. */
function only(template: Template, type: string, properties: Record<string, unknown> = {}) {
  const found = Object.entries(
    template.findResources(type, { Properties: Match.objectLike(properties) }),
  );
  assert.equal(found.length, 1, `one ${type} matching ${JSON.stringify(properties)}`);
  const [logicalId, resource] = found[0]!;
  return { logicalId, properties: (resource as { Properties: Record<string, Cfn> }).Properties };
}

const { stack: defaultStack, template } = build();
const queue = only(template, 'AWS::SQS::Queue', { ContentBasedDeduplication: true });
const dlq = only(template, 'AWS::SQS::Queue', {
  MessageRetentionPeriod: 345_600,
  ContentBasedDeduplication: Match.absent(),
});
const queueArn = { 'Fn::GetAtt': [queue.logicalId, 'Arn'] };

describe('WebhookQueue: queues', () => {
  test('a FIFO queue with content-based deduplication, visibility timeout and redrive to the DLQ', () => {
    template.resourceCountIs('AWS::SQS::Queue', 2);
    assert.deepEqual(queue.properties, {
      FifoQueue: true,
      ContentBasedDeduplication: true,
      VisibilityTimeout: 180,
      MessageRetentionPeriod: 345_600,
      SqsManagedSseEnabled: true,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlq.logicalId, 'Arn'] },
        maxReceiveCount: 10,
      },
    });
  });

  test('a FIFO dead-letter queue, keeping messages 4 days by default', () => {
    assert.deepEqual(dlq.properties, {
      FifoQueue: true,
      MessageRetentionPeriod: 4 * 86_400,
      SqsManagedSseEnabled: true,
    });
  });

  test('names, retention, visibility timeout and maxReceiveCount follow the props', () => {
    const { template: t } = build({
      name: 'sss-webhooks',
      visibilityTimeout: Duration.minutes(10),
      maxReceiveCount: 8,
      retentionPeriod: Duration.days(7),
      dlqRetentionPeriod: Duration.days(14),
    });
    const main = only(t, 'AWS::SQS::Queue', { QueueName: 'sss-webhooks.fifo' });
    const dead = only(t, 'AWS::SQS::Queue', { QueueName: 'sss-webhooks-dlq.fifo' });
    assert.equal(main.properties.VisibilityTimeout, 600);
    assert.equal(main.properties.MessageRetentionPeriod, 7 * 86_400);
    assert.equal(main.properties.RedrivePolicy.maxReceiveCount, 8);
    assert.equal(dead.properties.MessageRetentionPeriod, 14 * 86_400);
    only(t, 'AWS::Lambda::Function', { FunctionName: 'sss-webhooks-forwarder' });
    only(t, 'AWS::Logs::LogGroup', { LogGroupName: '/aws/lambda/sss-webhooks-forwarder' });
  });

  test('both queues refuse requests that are not made over TLS', () => {
    const policies = template.findResources('AWS::SQS::QueuePolicy');
    const guarded = Object.values(policies).map((policy: Cfn) => {
      const [statement, ...others] = policy.Properties.PolicyDocument.Statement;
      assert.equal(others.length, 0);
      assert.equal(statement.Effect, 'Deny');
      assert.deepEqual(statement.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
      return policy.Properties.Queues[0].Ref;
    });
    assert.deepEqual(guarded.sort(), [dlq.logicalId, queue.logicalId].sort());
  });
});

describe('WebhookQueue: HTTP API and the SQS-SendMessage integration', () => {
  test('creates an HTTP API with an auto-deployed $default stage when no id is given', () => {
    const api = only(template, 'AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    only(template, 'AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      ApiId: { Ref: api.logicalId },
    });
    for (const resource of Object.values(
      template.findResources('AWS::ApiGatewayV2::Integration'),
    )) {
      assert.deepEqual((resource as Cfn).Properties.ApiId, { Ref: api.logicalId });
    }
  });

  test('adds the routes to an existing HTTP API given by id, creating no API', () => {
    const { template: t } = build({ httpApiId: 'a1b2c3d4e5' });
    t.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    t.resourceCountIs('AWS::ApiGatewayV2::Stage', 0);
    t.resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length);
    for (const type of ['AWS::ApiGatewayV2::Integration', 'AWS::ApiGatewayV2::Route']) {
      for (const resource of Object.values(t.findResources(type))) {
        assert.equal((resource as Cfn).Properties.ApiId, 'a1b2c3d4e5');
      }
    }
  });

  test('one route and one SQS-SendMessage integration per webhook route', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Integration', ROUTES.length);
    template.resourceCountIs('AWS::ApiGatewayV2::Route', ROUTES.length);
    const sendRole = only(template, 'AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('send only'),
    });
    for (const route of ROUTES) {
      const integration = only(template, 'AWS::ApiGatewayV2::Integration', {
        Description: Match.stringLikeRegexp(`route ${route.name}:`),
      });
      assert.equal(integration.properties.IntegrationType, 'AWS_PROXY');
      assert.equal(integration.properties.IntegrationSubtype, 'SQS-SendMessage');
      assert.equal(integration.properties.PayloadFormatVersion, '1.0');
      assert.deepEqual(integration.properties.CredentialsArn, {
        'Fn::GetAtt': [sendRole.logicalId, 'Arn'],
      });
      only(template, 'AWS::ApiGatewayV2::Route', {
        RouteKey: `POST ${route.path}`,
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: integration.logicalId }]] },
      });
    }
  });

  test('request parameters: queue URL, raw body, static or header group, dedup header, attributes', () => {
    const parameters = (name: string) =>
      only(template, 'AWS::ApiGatewayV2::Integration', {
        Description: Match.stringLikeRegexp(`route ${name}:`),
      }).properties.RequestParameters;
    const attributes = (name: string) => JSON.parse(parameters(name).MessageAttributes);

    assert.deepEqual(parameters('approvals'), {
      QueueUrl: { Ref: queue.logicalId },
      MessageBody: '$request.body',
      MessageGroupId: `approvals:\${request.header.x-request-id}`,
      MessageAttributes: parameters('approvals').MessageAttributes,
    });
    assert.deepEqual(attributes('approvals'), {
      route: { DataType: 'String', StringValue: 'approvals' },
      'header.content-type': {
        DataType: 'String',
        StringValue: `=\${request.header.content-type}`,
      },
    });

    assert.equal(parameters('github').MessageGroupId, 'github-events');
    assert.equal(parameters('github').MessageDeduplicationId, '$request.header.x-github-delivery');
    assert.deepEqual(Object.keys(attributes('github')), [
      'route',
      'header.content-type',
      'header.x-github-event',
      'header.x-hub-signature-256',
    ]);

    assert.equal(parameters('plain').MessageGroupId, 'plain', 'the route name by default');
    assert.equal(parameters('plain').MessageDeduplicationId, undefined, 'content-based by default');
    assert.deepEqual(attributes('plain'), { route: { DataType: 'String', StringValue: 'plain' } });
  });

  test('the attributes the integration writes are the ones the Lambda reads', () => {
    const github = only(template, 'AWS::ApiGatewayV2::Integration', {
      Description: Match.stringLikeRegexp('route github:'),
    }).properties.RequestParameters;
    // What API Gateway does with the mapping for a request without X-Hub-Signature-256.
    const request: Record<string, string> = {
      'content-type': 'application/json',
      'x-github-event': 'push',
    };
    const resolved = JSON.parse(github.MessageAttributes, (_key, value) =>
      typeof value === 'string'
        ? value.replace(
            /\$\{request\.header\.([^}]+)\}/g,
            (_m, name: string) => request[name] ?? '',
          )
        : value,
    ) as Record<string, { DataType: string; StringValue: string }>;
    const record = fifoRecord({ route: null });
    record.messageAttributes = Object.fromEntries(
      Object.entries(resolved).map(([name, a]) => [
        name,
        { dataType: a.DataType, stringValue: a.StringValue },
      ]),
    );
    const [parsed] = parseFifoEvent({ Records: [record] });
    assert.equal(parsed?.routeAttribute, 'github');
    assert.deepEqual(parsed?.headers, [
      ['content-type', 'application/json'],
      ['x-github-event', 'push'],
    ]);
  });
});

describe('WebhookQueue: least-privilege IAM', () => {
  const roles = template.findResources('AWS::IAM::Role');
  const statements = (role: Cfn) =>
    role.Properties.Policies.flatMap((policy: Cfn) => policy.PolicyDocument.Statement);

  test('no managed policies and no separate policy resources: every permission is listed here', () => {
    template.resourceCountIs('AWS::IAM::Role', 2);
    template.resourceCountIs('AWS::IAM::Policy', 0);
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    for (const role of Object.values(roles)) {
      assert.equal((role as Cfn).Properties.ManagedPolicyArns, undefined);
    }
  });

  test('the API Gateway role may only send, and only to the queue', () => {
    const role = only(template, 'AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('send only'),
    });
    assert.deepEqual(role.properties.AssumeRolePolicyDocument.Statement, [
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'apigateway.amazonaws.com' },
      },
    ]);
    assert.deepEqual(statements({ Properties: role.properties }), [
      { Action: 'sqs:SendMessage', Effect: 'Allow', Resource: queueArn },
    ]);
  });

  test('the Lambda role may only receive from the queue and write its own log group', () => {
    const fn = only(template, 'AWS::Lambda::Function');
    const roleId = fn.properties.Role['Fn::GetAtt'][0];
    const role = roles[roleId] as Cfn;
    assert.deepEqual(role.Properties.AssumeRolePolicyDocument.Statement, [
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    const logGroup = only(template, 'AWS::Logs::LogGroup');
    assert.deepEqual(statements(role), [
      { Action: [...RECEIVE_ACTIONS], Effect: 'Allow', Resource: queueArn },
      {
        Action: [...LOG_ACTIONS],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [logGroup.logicalId, 'Arn'] },
      },
    ]);
    assert.ok(!JSON.stringify(role).includes('sqs:SendMessage'));
    assert.ok(!JSON.stringify(role).includes(dlq.logicalId), 'nothing on the dead-letter queue');
  });
});

describe('WebhookQueue: the Lambda forwarder and its event source mapping', () => {
  const fn = only(template, 'AWS::Lambda::Function');

  test('runs hookq’s bundle with a timeout below the visibility timeout', () => {
    const logGroup = only(template, 'AWS::Logs::LogGroup', { RetentionInDays: 30 });
    assert.equal(fn.properties.Handler, 'index.handler');
    assert.equal(fn.properties.Runtime, 'nodejs22.x');
    assert.deepEqual(fn.properties.Architectures, ['arm64']);
    assert.equal(fn.properties.Timeout, 30);
    assert.equal(fn.properties.MemorySize, 256);
    assert.deepEqual(fn.properties.LoggingConfig, { LogGroup: { Ref: logGroup.logicalId } });
    assert.ok(fn.properties.Timeout * 6 <= queue.properties.VisibilityTimeout);
  });

  test('its environment is a configuration the forwarder accepts, mapping every route', () => {
    const env = fn.properties.Environment.Variables as Record<string, string>;
    assert.deepEqual(Object.keys(env).sort(), [
      'HOOKQ_MAX_RECEIVE_COUNT',
      'HOOKQ_ROUTES',
      'HOOKQ_TIMEOUT',
    ]);
    const config = loadLambdaConfig(env);
    assert.deepEqual(
      config.routes.map((route) => [route.name, route.target, route.groups, route.timeoutMs]),
      [
        ['approvals', TARGET, [], 10_000],
        ['github', `${TARGET}/github`, ['github-events'], 10_000],
        ['plain', `${TARGET}/plain`, [], 10_000],
      ],
    );
    assert.equal(config.maxReceiveCount, 10);
    assert.equal(config.sign, undefined);

    const signed = only(
      build({ signingSecret: SECRET, requestTimeout: Duration.seconds(20) }).template,
      'AWS::Lambda::Function',
    );
    const signedConfig = loadLambdaConfig(signed.properties.Environment.Variables);
    assert.deepEqual(signedConfig.sign, { secret: SECRET });
    assert.equal(signedConfig.routes[0]!.timeoutMs, 20_000);
  });

  test('the event source mapping: the queue, batch size, maximum concurrency, partial batch responses', () => {
    assert.deepEqual(only(template, 'AWS::Lambda::EventSourceMapping').properties, {
      EventSourceArn: queueArn,
      FunctionName: { Ref: fn.logicalId },
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 5 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const { template: t } = build({ batchSize: 10, maxConcurrency: 1000 });
    const mapping = only(t, 'AWS::Lambda::EventSourceMapping').properties;
    assert.equal(mapping.BatchSize, 10);
    assert.deepEqual(mapping.ScalingConfig, { MaximumConcurrency: 1000 });
  });

  test('the defaults are the ones documented for both tools', () => {
    assert.equal(
      queue.properties.VisibilityTimeout,
      WEBHOOK_QUEUE_DEFAULTS.visibilityTimeoutSeconds,
    );
    assert.equal(
      queue.properties.RedrivePolicy.maxReceiveCount,
      WEBHOOK_QUEUE_DEFAULTS.maxReceiveCount,
    );
    assert.equal(dlq.properties.MessageRetentionPeriod, WEBHOOK_QUEUE_DEFAULTS.dlqRetentionSeconds);
    assert.equal(fn.properties.Timeout, WEBHOOK_QUEUE_DEFAULTS.lambdaTimeoutSeconds);
    assert.equal(
      fn.properties.Environment.Variables.HOOKQ_TIMEOUT,
      `${WEBHOOK_QUEUE_DEFAULTS.requestTimeoutSeconds}s`,
    );
  });

  test('no warning with the defaults; a warning below 6 times the Lambda timeout', () => {
    const warnings = (stack: Stack) =>
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('6 times'));
    assert.equal(warnings(defaultStack).length, 0);
    const { stack } = build({ visibilityTimeout: Duration.seconds(60) });
    assert.equal(warnings(stack).length, 1);
  });
});

describe('WebhookQueue: refused settings', () => {
  const refuses = (props: Partial<WebhookQueueProps>, message: RegExp) =>
    assert.throws(
      () => build(props),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(error.message, /^WebhookQueue: /);
        assert.match(error.message, message);
        return true;
      },
    );

  test('a Lambda timeout above the visibility timeout', () => {
    refuses(
      { lambdaTimeout: Duration.seconds(61), visibilityTimeout: Duration.seconds(60) },
      /lambdaTimeout \(61s\) must not exceed visibilityTimeout \(60s\)/,
    );
    build({ lambdaTimeout: Duration.seconds(60), visibilityTimeout: Duration.seconds(60) });
  });

  test('a maximum concurrency outside 2 to 1000', () => {
    refuses(
      { maxConcurrency: 1 },
      /maxConcurrency must be a whole number from 2 to 1000 .*\(got 1\)/,
    );
    refuses({ maxConcurrency: 1001 }, /maxConcurrency .*\(got 1001\)/);
    refuses({ maxConcurrency: 0 }, /maxConcurrency .*\(got 0\)/);
    build({ maxConcurrency: 2 });
  });

  test('a batch size above 10, or below 1', () => {
    refuses({ batchSize: 11 }, /batchSize must be a whole number from 1 to 10 .*FIFO.*\(got 11\)/);
    refuses({ batchSize: 0 }, /batchSize .*\(got 0\)/);
  });

  test('a request timeout that leaves the Lambda no time to answer', () => {
    refuses(
      { requestTimeout: Duration.seconds(30) },
      /requestTimeout \(30s\) must be at least 1s shorter than lambdaTimeout \(30s\)/,
    );
  });

  test('other values AWS or the forwarder would refuse', () => {
    refuses({ maxReceiveCount: 0 }, /maxReceiveCount/);
    refuses({ dlqRetentionPeriod: Duration.days(15) }, /dlqRetentionPeriod .*14 days/);
    refuses(
      { lambdaTimeout: Duration.minutes(16), visibilityTimeout: Duration.hours(1) },
      /lambdaTimeout .*900/,
    );
    refuses({ signingSecret: 'not-whsec' }, /signingSecret must be a Standard Webhooks secret/);
    refuses({ routes: [] }, /routes must list at least one route/);
  });

  test('routes with a bad or repeated name, path, target or header', () => {
    const route = ROUTES[2]!;
    refuses({ routes: [{ ...route, name: 'a b' }] }, /routes\[0\]\.name/);
    refuses(
      { routes: [route, { ...route, path: '/other' }] },
      /routes\[1\]\.name "plain" is used by another route/,
    );
    refuses(
      { routes: [route, { ...route, name: 'other' }] },
      /routes\[1\]\.path "POST \/plain" is used by another route/,
    );
    refuses({ routes: [{ ...route, path: 'plain' }] }, /routes\[0\]\.path must start with "\/"/);
    refuses({ routes: [{ ...route, target: 'ftp://x' }] }, /routes\[0\]\.target/);
    refuses({ routes: [{ ...route, group: { header: 'X Bad' } }] }, /routes\[0\]\.group\.header/);
    refuses(
      { routes: [{ ...route, group: 'has space' }] },
      /routes\[0\]\.group must be 1 to 128 visible ASCII/,
    );
    refuses({ routes: [{ ...route, dedupHeader: 'x:y' }] }, /routes\[0\]\.dedupHeader/);
    const ten = Array.from({ length: 10 }, (_, i) => `x-h${i}`);
    refuses(
      { routes: [{ ...route, forwardHeaders: ten }] },
      /routes\[0\]\.forwardHeaders lists 10 headers; at most 9/,
    );
  });
});

describe('the example CDK app', () => {
  test('synthesizes the article’s design with hookq’s bundle as a code asset', () => {
    const dir = tempDir('hookq-cdk-');
    const bundle = join(dir, 'lambda');
    mkdirSync(bundle);
    writeFileSync(
      join(bundle, 'index.mjs'),
      'export const handler = async () => ({ batchItemFailures: [] });\n',
    );
    const app = new App({ outdir: join(dir, 'cdk.out'), context: { ...STRICT, target: TARGET } });
    const stack = exampleStack(app, { lambdaCode: lambda.Code.fromAsset(bundle) });
    const t = Template.fromStack(stack);
    only(t, 'AWS::ApiGatewayV2::Route', { RouteKey: 'POST /sqs-hook' });
    only(t, 'AWS::SQS::Queue', { QueueName: 'hookq-webhooks.fifo' });
    const fn = only(t, 'AWS::Lambda::Function');
    assert.ok(fn.properties.Code.S3Key, 'the bundle is an asset');
    assert.equal(JSON.parse(fn.properties.Environment.Variables.HOOKQ_ROUTES)[0].target, TARGET);
    t.hasOutput('WebhookUrl', {});
    t.hasOutput('DeadLetterQueueArn', {});
  });
});
