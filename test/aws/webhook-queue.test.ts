/**
 * The CDK construct, checked on its synthesized CloudFormation template (offline: an
 * explicit-environment stack needs no AWS lookups), with CloudFormation's own schema
 * checks turned into errors. The mapping templates are rendered as API Gateway would
 * (ingress-cases.ts), and the forwarder's environment is loaded by the forwarder's own
 * configuration code.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
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
import { tempDir } from '../helpers/config.js';
import {
  cdkRoutes,
  deliver,
  GITHUB_SECRET,
  ROUTE_CASES,
  type RouteName,
  roundTripTests,
  TARGET,
} from './ingress-cases.js';

/** A synthesized template is untyped JSON; the assertions say what shape they expect. */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON, checked by the assertions
type Cfn = any;

const SECRET = `whsec_${Buffer.from('hookq lambda signing key, 32 b.').toString('base64')}`;
const CODE = lambda.Code.fromInline(
  'export const handler = async () => ({ batchItemFailures: [] });',
);

const ROUTES = cdkRoutes();

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
  return {
    logicalId,
    resource: resource as Cfn,
    properties: (resource as { Properties: Record<string, Cfn> }).Properties,
  };
}

/** The path of each AWS::ApiGateway::Resource, by logical id, walking up the parents. */
function resourcePaths(template: Template): Map<string, string> {
  const resources = template.findResources('AWS::ApiGateway::Resource') as Record<string, Cfn>;
  const pathOf = (id: string): string => {
    const { PathPart, ParentId } = resources[id].Properties;
    const parent = ParentId.Ref ?? ParentId['Fn::GetAtt']?.[0];
    return `${parent in resources ? pathOf(parent) : ''}/${PathPart}`;
  };
  return new Map(Object.keys(resources).map((id) => [id, pathOf(id)]));
}

/** The method of a route path. */
function methodAt(template: Template, path: string): Cfn {
  const paths = resourcePaths(template);
  const methods = Object.values(template.findResources('AWS::ApiGateway::Method')) as Cfn[];
  const found = methods.filter((method) => {
    const ref = method.Properties.ResourceId.Ref;
    return ref !== undefined ? paths.get(ref) === path : path === '/';
  });
  assert.equal(found.length, 1, `one method at ${path}`);
  return found[0].Properties;
}

const { stack: defaultStack, template } = build();
const queue = only(template, 'AWS::SQS::Queue', { ContentBasedDeduplication: true });
const dlq = only(template, 'AWS::SQS::Queue', {
  MessageRetentionPeriod: 345_600,
  ContentBasedDeduplication: Match.absent(),
});
const queueArn = { 'Fn::GetAtt': [queue.logicalId, 'Arn'] };
const templateOf = (route: RouteName) =>
  methodAt(template, ROUTE_CASES[route].path).Integration.RequestTemplates['application/json'];

describe('WebhookQueue: queues', () => {
  test('content-based deduplication only within a message group (an equal body in another group is kept)', () => {
    template.resourceCountIs('AWS::SQS::Queue', 2);
    assert.deepEqual(queue.properties, {
      FifoQueue: true,
      ContentBasedDeduplication: true,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
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

  test('the dead-letter queue survives the stack and a replacement (a new name)', () => {
    assert.equal(dlq.resource.DeletionPolicy, 'Retain');
    assert.equal(dlq.resource.UpdateReplacePolicy, 'Retain');
    const { template: t } = build({ deadLetterQueueRemovalPolicy: RemovalPolicy.DESTROY });
    const dead = only(t, 'AWS::SQS::Queue', { ContentBasedDeduplication: Match.absent() });
    assert.equal(dead.resource.DeletionPolicy, 'Delete');
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
    only(t, 'AWS::ApiGateway::RestApi', { Name: 'sss-webhooks-api' });
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

describe('WebhookQueue: REST API and the SQS integration', () => {
  test('a regional REST API whose stage is throttled (the routes have no authorizer)', () => {
    const api = only(template, 'AWS::ApiGateway::RestApi', {
      EndpointConfiguration: { Types: ['REGIONAL'] },
    });
    const stage = only(template, 'AWS::ApiGateway::Stage', {
      StageName: 'webhooks',
      RestApiId: { Ref: api.logicalId },
    });
    assert.deepEqual(stage.properties.MethodSettings, [
      {
        DataTraceEnabled: false,
        HttpMethod: '*',
        ResourcePath: '/*',
        ThrottlingBurstLimit: 100,
        ThrottlingRateLimit: 50,
      },
    ]);
    template.resourceCountIs('AWS::ApiGateway::Deployment', 1);
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    const { template: t } = build({ throttlingRateLimit: 5, throttlingBurstLimit: 10 });
    const limits = only(t, 'AWS::ApiGateway::Stage').properties.MethodSettings[0];
    assert.equal(limits.ThrottlingRateLimit, 5);
    assert.equal(limits.ThrottlingBurstLimit, 10);
  });

  test('per route: an AWS integration with SQS SendMessage, the send-only role, nothing passed through', () => {
    const sendRole = only(template, 'AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('send only'),
    });
    template.resourceCountIs('AWS::ApiGateway::Method', ROUTES.length);
    for (const route of ROUTES) {
      const method = methodAt(template, route.path);
      assert.equal(method.HttpMethod, 'POST');
      assert.equal(method.AuthorizationType, 'NONE');
      const integration = method.Integration;
      assert.equal(integration.Type, 'AWS');
      assert.equal(integration.IntegrationHttpMethod, 'POST');
      assert.equal(integration.PassthroughBehavior, 'NEVER');
      assert.deepEqual(integration.Credentials, { 'Fn::GetAtt': [sendRole.logicalId, 'Arn'] });
      assert.deepEqual(integration.RequestParameters, {
        'integration.request.header.Content-Type': "'application/x-www-form-urlencoded'",
      });
      assert.match(JSON.stringify(integration.Uri), /:sqs:path\//);
      assert.ok(JSON.stringify(integration.Uri).includes(queue.logicalId), 'the queue');
      assert.deepEqual(
        integration.IntegrationResponses.map((r: Cfn) => [r.StatusCode, r.SelectionPattern]),
        [
          ['200', undefined],
          ['503', '[45]\\d{2}'],
        ],
      );
    }
  });

  test('the content types a route takes, one template each; a JSON group takes only JSON', () => {
    const types = (path: string) =>
      Object.keys(methodAt(template, path).Integration.RequestTemplates);
    assert.deepEqual(types('/sqs-hook'), ['application/json']);
    assert.deepEqual(types('/plain'), [
      'application/json',
      'application/x-www-form-urlencoded',
      'text/plain',
      'application/xml',
      'text/xml',
    ]);
    const templates = Object.values(methodAt(template, '/plain').Integration.RequestTemplates);
    assert.equal(new Set(templates).size, 1, 'the same template for each');
  });

  test('nested paths become nested resources', () => {
    assert.deepEqual([...resourcePaths(template).values()].sort(), [
      '/hooks',
      '/hooks/entities',
      '/hooks/github',
      '/plain',
      '/sqs-hook',
    ]);
  });

  test('adds the routes to an existing REST API, creating no API, deployment or stage', () => {
    const { template: t } = build({
      restApi: { restApiId: 'a1b2c3d4e5', rootResourceId: 'r00tid' },
    });
    t.resourceCountIs('AWS::ApiGateway::RestApi', 0);
    t.resourceCountIs('AWS::ApiGateway::Deployment', 0);
    t.resourceCountIs('AWS::ApiGateway::Stage', 0);
    t.resourceCountIs('AWS::ApiGateway::Method', ROUTES.length);
    for (const type of ['AWS::ApiGateway::Method', 'AWS::ApiGateway::Resource']) {
      for (const resource of Object.values(t.findResources(type)) as Cfn[]) {
        assert.equal(resource.Properties.RestApiId, 'a1b2c3d4e5');
      }
    }
    only(t, 'AWS::ApiGateway::Resource', { ParentId: 'r00tid', PathPart: 'sqs-hook' });
  });
});

describe('WebhookQueue: the mapping templates, rendered as API Gateway renders them', () => {
  roundTripTests(templateOf);

  test('a verified route carries its signature header, and the forwarder verifies it', () => {
    const env = only(template, 'AWS::Lambda::Function').properties.Environment.Variables;
    const config = loadLambdaConfig(env);
    const github = config.routes.find((route) => route.name === 'github');
    assert.deepEqual(github?.verify, { scheme: 'github', secrets: [GITHUB_SECRET] });
    const record = deliver(templateOf('github'), {
      headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': 'sha256=00' },
      body: '{}',
    });
    assert.deepEqual(
      record.headers.find(([name]) => name === 'x-hub-signature-256'),
      ['x-hub-signature-256', 'sha256=00'],
    );
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

  test('reserved concurrency covers the mapping’s maximum concurrency', () => {
    assert.equal(fn.properties.ReservedConcurrentExecutions, 5);
    const raised = only(build({ maxConcurrency: 20 }).template, 'AWS::Lambda::Function');
    assert.equal(raised.properties.ReservedConcurrentExecutions, 20);
    const none = only(build({ reservedConcurrency: false }).template, 'AWS::Lambda::Function');
    assert.equal(none.properties.ReservedConcurrentExecutions, undefined);
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
        ['github', `${TARGET}/github`, ['gh'], 10_000],
        ['entities', `${TARGET}/entities`, [], 10_000],
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

describe('WebhookQueue: alarms', () => {
  const alarm = (t: Template, metric: string) =>
    only(t, 'AWS::CloudWatch::Alarm', { MetricName: metric }).properties;

  test('the DLQ holding a message, the oldest message’s age, Lambda errors and throttles', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    const fn = only(template, 'AWS::Lambda::Function');
    const dead = alarm(template, 'ApproximateNumberOfMessagesVisible');
    assert.equal(dead.Namespace, 'AWS/SQS');
    assert.deepEqual(dead.Dimensions, [
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq.logicalId, 'QueueName'] } },
    ]);
    assert.equal(dead.Threshold, 1);
    assert.equal(dead.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    assert.equal(dead.TreatMissingData, 'notBreaching');
    const age = alarm(template, 'ApproximateAgeOfOldestMessage');
    assert.deepEqual(age.Dimensions, [
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [queue.logicalId, 'QueueName'] } },
    ]);
    assert.equal(age.Threshold, 600);
    for (const metric of ['Errors', 'Throttles']) {
      const a = alarm(template, metric);
      assert.equal(a.Namespace, 'AWS/Lambda');
      assert.deepEqual(a.Dimensions, [{ Name: 'FunctionName', Value: { Ref: fn.logicalId } }]);
      assert.equal(a.Threshold, 1);
    }
    for (const a of Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Cfn[]) {
      assert.equal(a.Properties.AlarmActions, undefined, 'no topic: no actions');
    }
  });

  test('an SNS topic, when given, is told of every alarm and its end', () => {
    const app = new App({ context: STRICT });
    const stack = new Stack(app, 'Alarmed', {
      env: { account: '123456789012', region: 'ap-northeast-1' },
    });
    const topic = new sns.Topic(stack, 'Pager');
    new WebhookQueue(stack, 'Webhooks', {
      routes: ROUTES,
      lambdaCode: CODE,
      alarmTopic: topic,
      oldestMessageAgeAlarm: Duration.minutes(30),
    });
    const t = Template.fromStack(stack);
    const [topicId] = Object.keys(t.findResources('AWS::SNS::Topic'));
    const topicRef = { Ref: topicId };
    for (const a of Object.values(t.findResources('AWS::CloudWatch::Alarm')) as Cfn[]) {
      assert.deepEqual(a.Properties.AlarmActions, [topicRef]);
      assert.deepEqual(a.Properties.OKActions, [topicRef]);
    }
    assert.equal(alarm(t, 'ApproximateAgeOfOldestMessage').Threshold, 1800);
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

  test('a maximum concurrency outside 2 to 1000, and a reserved concurrency below it', () => {
    refuses(
      { maxConcurrency: 1 },
      /maxConcurrency must be a whole number from 2 to 1000 .*\(got 1\)/,
    );
    refuses({ maxConcurrency: 1001 }, /maxConcurrency .*\(got 1001\)/);
    refuses({ maxConcurrency: 0 }, /maxConcurrency .*\(got 0\)/);
    refuses(
      { maxConcurrency: 10, reservedConcurrency: 5 },
      /reservedConcurrency must be a whole number from 10 to 1000 \(got 5\)/,
    );
    build({ maxConcurrency: 2 });
  });

  test('a name too long for the function and role names derived from it', () => {
    refuses(
      { name: 'n'.repeat(55) },
      /name must be 1 to 54 .*"<name>-forwarder" fits the 64 characters/,
    );
    refuses({ name: 'has.dot' }, /name must be/);
    build({ name: 'n'.repeat(54) });
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

  test('routes with a bad or repeated name, path, target, group or header', () => {
    const route: WebhookRouteProps = { name: 'plain', path: '/plain', target: TARGET };
    refuses({ routes: [{ ...route, name: 'a b' }] }, /routes\[0\]\.name/);
    refuses({ routes: [{ ...route, name: 'n'.repeat(65) }] }, /routes\[0\]\.name must be 1 to 64/);
    refuses(
      { routes: [route, { ...route, path: '/other' }] },
      /routes\[1\]\.name "plain" is used by another route/,
    );
    refuses(
      { routes: [route, { ...route, name: 'other' }] },
      /routes\[1\]\.path "POST \/plain" is used by another route/,
    );
    refuses({ routes: [{ ...route, path: 'plain' }] }, /routes\[0\]\.path must be "\/" or 1 to 4/);
    refuses({ routes: [{ ...route, path: '/a/b/c/d/e' }] }, /routes\[0\]\.path/);
    refuses({ routes: [{ ...route, path: '/{id}' }] }, /routes\[0\]\.path/);
    refuses({ routes: [{ ...route, target: 'ftp://x' }] }, /routes\[0\]\.target/);
    refuses({ routes: [{ ...route, group: { header: 'X Bad' } }] }, /routes\[0\]\.group\.header/);
    refuses(
      { routes: [{ ...route, group: { json: '/data/object-id' } }] },
      /routes\[0\]\.group\.json must be a JSON Pointer/,
    );
    refuses(
      { routes: [{ ...route, group: 'has space' }] },
      /routes\[0\]\.group must be 1 to 128 letters, digits and ASCII punctuation/,
    );
    refuses({ routes: [{ ...route, dedupHeader: 'x:y' }] }, /routes\[0\]\.dedupHeader/);
    const nine = Array.from({ length: 9 }, (_, i) => `x-h${i}`);
    refuses(
      { routes: [{ ...route, forwardHeaders: nine }] },
      /routes\[0\]\.forwardHeaders .*carries 9 headers; at most 8/,
    );
    refuses(
      {
        routes: [
          {
            ...route,
            forwardHeaders: nine.slice(0, 6),
            verify: { scheme: 'standard-webhooks', secret: SECRET },
          },
        ],
      },
      /carries 9 headers/,
    );
    refuses({ routes: [{ ...route, contentTypes: ['json'] }] }, /routes\[0\]\.contentTypes\[0\]/);
  });

  test('a verify section the forwarder would refuse at cold start, named as the construct prop', () => {
    const route: WebhookRouteProps = { name: 'plain', path: '/plain', target: TARGET };
    refuses(
      { routes: [{ ...route, verify: { scheme: 'github' } }] },
      /routes\[0\]\.verify\.secret is required/,
    );
    refuses(
      { routes: [{ ...route, verify: { scheme: 'standard-webhooks', secret: 'plain' } }] },
      /routes\[0\]\.verify\.secret must be a Standard Webhooks secret/,
    );
    refuses(
      {
        routes: [
          { ...route, verify: { scheme: 'github', secret: 's', tolerance: Duration.minutes(1) } },
        ],
      },
      /routes\[0\]\.verify\.tolerance is not a setting of scheme github/,
    );
    refuses(
      { routes: [{ ...route, verify: { scheme: 'hmac-sha256', secret: 's' } }] },
      /routes\[0\]\.verify\.header is required for scheme hmac-sha256/,
    );
  });
});

describe('the example CDK app', () => {
  test('synthesizes the article’s design, one group per approval, with hookq’s bundle as an asset', () => {
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
    only(t, 'AWS::ApiGateway::Resource', { PathPart: 'sqs-hook' });
    only(t, 'AWS::SQS::Queue', { QueueName: 'hookq-webhooks.fifo' });
    const fn = only(t, 'AWS::Lambda::Function');
    assert.ok(fn.properties.Code.S3Key, 'the bundle is an asset');
    assert.equal(JSON.parse(fn.properties.Environment.Variables.HOOKQ_ROUTES)[0].target, TARGET);
    t.hasOutput('WebhookUrl', {});
    t.hasOutput('DeadLetterQueueArn', {});

    // Grouped by an entity of the body, not by a per-request id: two events of one
    // approval share a group, two approvals do not.
    const requestTemplate = methodAt(t, '/sqs-hook').Integration.RequestTemplates[
      'application/json'
    ];
    assert.doesNotMatch(requestTemplate, /x-request-id/i);
    const groupOf = (body: string) =>
      deliver(requestTemplate, { headers: { 'X-Request-Id': body }, body }).groupId;
    const first = groupOf('{"approval":{"id":"A-1"},"status":"pending"}');
    assert.equal(first, 'approvals:A-1');
    assert.equal(groupOf('{"approval":{"id":"A-1"},"status":"approved"}'), first);
    assert.notEqual(groupOf('{"approval":{"id":"A-2"},"status":"approved"}'), first);
  });
});
