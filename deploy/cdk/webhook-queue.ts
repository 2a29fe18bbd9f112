/**
 * WebhookQueue: hookq's design on AWS, as one CDK construct.
 *
 *   provider ──POST /path──▶ REST API method ──SQS SendMessage (send-only role)──▶ FIFO queue
 *   FIFO queue ──event source mapping (batch size, maximum concurrency)──▶ Lambda forwarder
 *   Lambda forwarder (receive-only role) ──POST──▶ application; failures return to the queue,
 *   and after maxReceiveCount receives SQS moves a message to the FIFO dead-letter queue.
 *
 * The Lambda is hookq's own forwarder (src/aws), bundled by deploy/build-lambda.mjs.
 * deploy/README.md explains every choice; the Terraform module builds the same resources.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Annotations, Aws, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV, LAMBDA_DEFAULTS, parseVerify, subKey } from '../../src/aws/lambda-config.js';
import {
  FORWARDABLE_HEADER,
  MAX_CARRIED_HEADERS,
  MAX_ROUTE_NAME,
  ROUTE_NAME,
  SQS_ID,
  verifyHeaders,
} from '../../src/aws/wire.js';
import {
  isStandardWebhooksSecret,
  STANDARD_WEBHOOKS_SECRET_FORM,
} from '../../src/config/fields.js';
import type { VerifyScheme } from '../../src/config/types.js';
import {
  ACCEPTED_RESPONSE,
  CONTENT_TYPE,
  DEFAULT_CONTENT_TYPES,
  JSON_GROUP_CONTENT_TYPES,
  JSON_GROUP_POINTER,
  REFUSED_RESPONSE,
  REFUSED_SELECTION_PATTERN,
  REFUSED_STATUS,
  RETRY_AFTER_SECONDS,
  sendMessageTemplate,
} from './send-message-template.js';

/**
 * Check the provider's signature in the forwarder before delivering, with hookq's
 * verifiers: hookq.yaml's route `verify` section. A message that fails is not forwarded
 * and goes to the dead-letter queue; the log says why.
 */
export interface WebhookVerifyProps {
  readonly scheme: VerifyScheme;
  /** One secret, or `secrets` for rotation. Stored in the function's environment. */
  readonly secret?: string;
  readonly secrets?: readonly string[];
  /** Timestamped schemes (stripe, standard-webhooks, slack). @default 5 minutes */
  readonly tolerance?: Duration;
  /** hmac-sha256 only: the header with the signature, its encoding and prefix. */
  readonly header?: string;
  readonly encoding?: 'hex' | 'base64';
  readonly prefix?: string;
}

/** One webhook endpoint: `POST <path>` on the REST API, delivered to `target`. */
export interface WebhookRouteProps {
  /** The route's name: letters, digits, `-`, `_`, `.` (at most 64). It prefixes group ids. */
  readonly name: string;
  /** Path of the REST API resource, such as `/sqs-hook` or `/hooks/github` (1 to 4 segments). */
  readonly path: string;
  /** @default 'POST' */
  readonly method?: string;
  /** The application's webhook URL, where the Lambda POSTs each message. */
  readonly target: string;
  /**
   * The message group, as hookq.yaml's `group`: a static id; `{ header: 'X-Entity-Id' }`
   * for one group per value of that request header; or `{ json: '/approval/id' }` for
   * one group per value in the JSON body. A value becomes `<route name>:<value>`; a value
   * SQS would refuse (a space, non-ASCII, too long) is encoded (deploy/README.md).
   * @default the route name: all messages of the route in one group
   */
  readonly group?: string | { readonly header: string } | { readonly json: string };
  /**
   * A provider header that identifies a delivery (such as `X-GitHub-Delivery`): used as
   * MessageDeduplicationId when SQS accepts its value, so that the provider's retries of
   * one delivery are dropped but two deliveries with equal bodies are both kept.
   * @default none: content-based deduplication (SHA-256 of the body), within the group
   */
  readonly dedupHeader?: string;
  /**
   * Request headers carried to the application, as message attributes. With `verify`,
   * the scheme's headers are carried too; at most 8 in all.
   * @default ['content-type']
   */
  readonly forwardHeaders?: readonly string[];
  /** Verify the provider's signature in the forwarder. @default none */
  readonly verify?: WebhookVerifyProps;
  /**
   * Request content types the route takes; API Gateway answers others with 415.
   * @default JSON, form data, plain text and XML (only application/json with a JSON group)
   */
  readonly contentTypes?: readonly string[];
}

export interface WebhookQueueProps {
  readonly routes: readonly WebhookRouteProps[];
  /**
   * Base name of the resources: the queue is `<name>.fifo`, the dead-letter queue
   * `<name>-dlq.fifo`, the function `<name>-forwarder`. At most 54 characters, so that
   * the function's name fits Lambda's 64.
   * @default names generated by CloudFormation
   */
  readonly name?: string;
  /**
   * Add the routes to this existing REST API (its root resource id is needed too); the
   * API's own deployment and stage are then yours to manage.
   * @default a new regional REST API with a stage, throttled
   */
  readonly restApi?: { readonly restApiId: string; readonly rootResourceId: string };
  /** Stage of the new REST API. @default 'webhooks' */
  readonly stageName?: string;
  /** Steady requests per second the new API's stage accepts; more are answered 429. @default 50 */
  readonly throttlingRateLimit?: number;
  /** Burst the new API's stage accepts. @default 100 */
  readonly throttlingBurstLimit?: number;
  /** How long a received message stays hidden; also the delay before a retry. @default 180 seconds */
  readonly visibilityTimeout?: Duration;
  /** Receives before SQS moves a message to the dead-letter queue (hookq's retry.maxAttempts). @default 10 */
  readonly maxReceiveCount?: number;
  /** How long the queue keeps a message. @default 4 days */
  readonly retentionPeriod?: Duration;
  /** How long the dead-letter queue keeps a message. @default 4 days */
  readonly dlqRetentionPeriod?: Duration;
  /**
   * What happens to the dead-letter queue when it leaves the stack (stack deleted, or
   * replaced because `name` changed). @default RemovalPolicy.RETAIN: dead letters are kept
   */
  readonly deadLetterQueueRemovalPolicy?: RemovalPolicy;
  /** The Lambda's timeout; at most the visibility timeout. @default 30 seconds */
  readonly lambdaTimeout?: Duration;
  /** @default 256 */
  readonly lambdaMemorySize?: number;
  /** @default Runtime.NODEJS_22_X (AWS deprecated nodejs20.x on 2026-04-30) */
  readonly lambdaRuntime?: lambda.Runtime;
  /** @default Architecture.ARM_64 */
  readonly lambdaArchitecture?: lambda.Architecture;
  /** The bundled forwarder. @default the directory dist/lambda (npm run build:lambda) */
  readonly lambdaCode?: lambda.Code;
  /** Timeout of one request to the application. @default 10 seconds */
  readonly requestTimeout?: Duration;
  /** Records per invocation, 1 to 10 (the FIFO maximum). @default 1 */
  readonly batchSize?: number;
  /** Concurrent invocations of the event source mapping, 2 to 1000. @default 5 */
  readonly maxConcurrency?: number;
  /**
   * Reserved concurrency of the function: at least maxConcurrency, so that the mapping is
   * never throttled by other functions of the account. `false`: none (an account with a
   * concurrency quota too small to reserve from, such as a new one).
   * @default maxConcurrency
   */
  readonly reservedConcurrency?: number | false;
  /**
   * Sign forwarded requests (Standard Webhooks) with this `whsec_` secret. It is stored in
   * the function's environment.
   * @default no signature
   */
  readonly signingSecret?: string;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** Alarms notify this topic (alarm and OK). @default alarms without actions */
  readonly alarmTopic?: sns.ITopic;
  /** The oldest message of the queue older than this raises an alarm. @default 10 minutes */
  readonly oldestMessageAgeAlarm?: Duration;
}

/** The defaults, in the units the Terraform module's variables use. */
export const WEBHOOK_QUEUE_DEFAULTS = {
  visibilityTimeoutSeconds: 180,
  maxReceiveCount: 10,
  retentionSeconds: 4 * 86_400,
  dlqRetentionSeconds: 4 * 86_400,
  lambdaTimeoutSeconds: 30,
  lambdaMemorySize: 256,
  requestTimeoutSeconds: 10,
  batchSize: 1,
  maxConcurrency: 5,
  forwardHeaders: ['content-type'] as readonly string[],
  logRetentionDays: 30,
  stageName: 'webhooks',
  throttlingRateLimit: 50,
  throttlingBurstLimit: 100,
  oldestMessageAgeAlarmSeconds: 600,
} as const;

/** `<name>-forwarder` must fit Lambda's and IAM's 64 characters. */
export const MAX_NAME = 54;

/** The forwarder's own deadline margin (HOOKQ_DEADLINE_MARGIN's default). */
const DEADLINE_MARGIN_SECONDS = LAMBDA_DEFAULTS.deadlineMarginMs / 1000;

/** Actions the event source mapping needs on the queue, and nothing more. */
export const RECEIVE_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:DeleteMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueAttributes',
] as const;

export const SEND_ACTIONS = ['sqs:SendMessage'] as const;

export const LOG_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents'] as const;

const DEFAULT_BUNDLE_DIR = fileURLToPath(new URL('../../dist/lambda/', import.meta.url));

/** Paths of 1 to 4 segments (the Terraform module nests 4 levels of resources), or `/`. */
export const ROUTE_PATH = /^(\/|(\/[A-Za-z0-9._-]+){1,4})$/;

export class WebhookQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly forwarder: lambda.Function;
  readonly eventSourceMapping: lambda.EventSourceMapping;
  /** Assumed by API Gateway: sqs:SendMessage on the queue only. */
  readonly sendRole: iam.Role;
  /** The Lambda's role: receive from the queue, write its own log group. */
  readonly forwarderRole: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly restApi: apigw.IRestApi;
  /** The new REST API's stage URL; undefined when the routes went to an existing API. */
  readonly endpoint: string | undefined;
  /** Each route's URL by route name, when the construct created the API. */
  readonly webhookUrls: Record<string, string>;
  readonly alarms: {
    deadLetters: cloudwatch.Alarm;
    oldestMessageAge: cloudwatch.Alarm;
    errors: cloudwatch.Alarm;
    throttles: cloudwatch.Alarm;
  };

  constructor(scope: Construct, id: string, props: WebhookQueueProps) {
    super(scope, id);
    const settings = validate(props);
    const name = props.name;

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      queueName: name === undefined ? undefined : `${name}-dlq.fifo`,
      fifo: true,
      retentionPeriod: Duration.seconds(settings.dlqRetentionSeconds),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Dead letters are the one copy of webhooks that could not be delivered.
      removalPolicy: props.deadLetterQueueRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: name === undefined ? undefined : `${name}.fifo`,
      fifo: true,
      contentBasedDeduplication: true,
      // Deduplicate within a message group only: an identical body in another group (or
      // route) is another webhook. SQS's high-throughput mode: both settings together.
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout: Duration.seconds(settings.visibilityTimeoutSeconds),
      retentionPeriod: Duration.seconds(settings.retentionSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: settings.maxReceiveCount },
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    // --- Ingress: REST API methods that send to the queue -------------------------------
    this.sendRole = new iam.Role(this, 'SendRole', {
      description: 'API Gateway sends webhooks to the hookq queue (send only)',
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      inlinePolicies: {
        'send-only': new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: [...SEND_ACTIONS],
              resources: [this.queue.queueArn],
            }),
          ],
        }),
      },
    });

    let api: apigw.RestApi | undefined;
    if (props.restApi !== undefined) {
      this.restApi = apigw.RestApi.fromRestApiAttributes(this, 'Api', props.restApi);
    } else {
      api = new apigw.RestApi(this, 'Api', {
        restApiName: name === undefined ? undefined : `${name}-api`,
        description: 'Webhook ingress of hookq: each route sends to an SQS FIFO queue',
        endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
        // No account-wide CloudWatch role: the construct creates only its two roles.
        cloudWatchRole: false,
        deployOptions: {
          stageName: settings.stageName,
          throttlingRateLimit: settings.throttlingRateLimit,
          throttlingBurstLimit: settings.throttlingBurstLimit,
        },
      });
      this.restApi = api;
    }
    this.endpoint = api?.url;
    this.webhookUrls = {};

    for (const route of props.routes) {
      const resource = this.restApi.root.resourceForPath(route.path);
      const integration = new apigw.AwsIntegration({
        service: 'sqs',
        path: `${Aws.ACCOUNT_ID}/${this.queue.queueName}`,
        integrationHttpMethod: 'POST',
        options: {
          credentialsRole: this.sendRole,
          // Never pass a body through unmapped: it would reach SQS as the form itself.
          passthroughBehavior: apigw.PassthroughBehavior.NEVER,
          requestParameters: {
            'integration.request.header.Content-Type': "'application/x-www-form-urlencoded'",
          },
          requestTemplates: Object.fromEntries(
            contentTypesOf(route).map((type) => [type, sendMessageTemplate(templateRoute(route))]),
          ),
          integrationResponses: [
            {
              statusCode: '200',
              responseTemplates: { 'application/json': ACCEPTED_RESPONSE },
            },
            {
              statusCode: REFUSED_STATUS,
              selectionPattern: REFUSED_SELECTION_PATTERN,
              responseParameters: {
                'method.response.header.Retry-After': `'${RETRY_AFTER_SECONDS}'`,
              },
              responseTemplates: { 'application/json': REFUSED_RESPONSE },
            },
          ],
        },
      });
      resource.addMethod(route.method ?? 'POST', integration, {
        authorizationType: apigw.AuthorizationType.NONE,
        methodResponses: [
          { statusCode: '200' },
          {
            statusCode: REFUSED_STATUS,
            responseParameters: { 'method.response.header.Retry-After': true },
          },
        ],
      });
      if (api !== undefined) this.webhookUrls[route.name] = api.urlForPath(route.path);
    }

    // --- Delivery: the Lambda forwarder --------------------------------------------------
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      logGroupName: name === undefined ? undefined : `/aws/lambda/${name}-forwarder`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.forwarderRole = new iam.Role(this, 'ForwarderRole', {
      description: 'hookq Lambda forwarder: receive from the webhook queue, write its logs',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      inlinePolicies: {
        'receive-only': new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: [...RECEIVE_ACTIONS],
              resources: [this.queue.queueArn],
            }),
          ],
        }),
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: [...LOG_ACTIONS],
              resources: [this.logGroup.logGroupArn],
            }),
          ],
        }),
      },
    });

    this.forwarder = new lambda.Function(this, 'Forwarder', {
      functionName: name === undefined ? undefined : `${name}-forwarder`,
      description: 'hookq forwarder: delivers webhooks from the FIFO queue, in order',
      runtime: props.lambdaRuntime ?? lambda.Runtime.NODEJS_22_X,
      architecture: props.lambdaArchitecture ?? lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: props.lambdaCode ?? defaultCode(),
      timeout: Duration.seconds(settings.lambdaTimeoutSeconds),
      memorySize: props.lambdaMemorySize ?? WEBHOOK_QUEUE_DEFAULTS.lambdaMemorySize,
      reservedConcurrentExecutions: settings.reservedConcurrency,
      role: this.forwarderRole,
      logGroup: this.logGroup,
      environment: forwarderEnvironment(this, props, settings),
    });

    this.eventSourceMapping = new lambda.EventSourceMapping(this, 'EventSourceMapping', {
      target: this.forwarder,
      eventSourceArn: this.queue.queueArn,
      batchSize: settings.batchSize,
      maxConcurrency: settings.maxConcurrency,
      reportBatchItemFailures: true,
    });

    // --- Alarms ----------------------------------------------------------------------------
    const alarmName = (what: string) => (name === undefined ? undefined : `${name}-${what}`);
    this.alarms = {
      deadLetters: new cloudwatch.Alarm(this, 'DeadLettersAlarm', {
        alarmName: alarmName('dead-letters'),
        alarmDescription:
          'hookq: the dead-letter queue holds messages. Look at the forwarder log for the reason, fix it, then redrive (deploy/README.md).',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      oldestMessageAge: new cloudwatch.Alarm(this, 'OldestMessageAgeAlarm', {
        alarmName: alarmName('oldest-message-age'),
        alarmDescription:
          'hookq: a webhook has waited in the queue longer than expected: the application fails or is slow, or the forwarder is held up.',
        metric: this.queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(1),
          statistic: cloudwatch.Stats.MAXIMUM,
        }),
        threshold: settings.oldestMessageAgeAlarmSeconds,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      errors: new cloudwatch.Alarm(this, 'ErrorsAlarm', {
        alarmName: alarmName('forwarder-errors'),
        alarmDescription:
          'hookq: the forwarder failed whole invocations (a configuration error, a malformed event or a timeout); failed deliveries are not errors.',
        metric: this.forwarder.metricErrors({
          period: Duration.minutes(5),
          statistic: cloudwatch.Stats.SUM,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      throttles: new cloudwatch.Alarm(this, 'ThrottlesAlarm', {
        alarmName: alarmName('forwarder-throttles'),
        alarmDescription:
          'hookq: Lambda throttled the forwarder; raise its reserved concurrency or lower the mapping maximum concurrency.',
        metric: this.forwarder.metricThrottles({
          period: Duration.minutes(5),
          statistic: cloudwatch.Stats.SUM,
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    };
    if (props.alarmTopic !== undefined) {
      const action = new actions.SnsAction(props.alarmTopic);
      for (const alarm of Object.values(this.alarms)) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    if (settings.visibilityTimeoutSeconds < 6 * settings.lambdaTimeoutSeconds) {
      Annotations.of(this).addWarningV2(
        'hookq:visibilityTimeout',
        `visibilityTimeout (${settings.visibilityTimeoutSeconds}s) is less than 6 times lambdaTimeout (${settings.lambdaTimeoutSeconds}s), as AWS recommends for SQS event sources: a throttled batch may become visible again while Lambda still retries it`,
      );
    }
  }
}

/** Every setting with its default applied, in seconds. */
interface Settings {
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
  retentionSeconds: number;
  dlqRetentionSeconds: number;
  lambdaTimeoutSeconds: number;
  requestTimeoutSeconds: number;
  batchSize: number;
  maxConcurrency: number;
  reservedConcurrency: number | undefined;
  stageName: string;
  throttlingRateLimit: number;
  throttlingBurstLimit: number;
  oldestMessageAgeAlarmSeconds: number;
}

function fail(prop: string, problem: string): never {
  throw new Error(`WebhookQueue: ${prop} ${problem}`);
}

function seconds(value: Duration | undefined, fallback: number): number {
  return value === undefined ? fallback : value.toSeconds();
}

/** The headers a route carries as attributes: its forwardHeaders, then its scheme's. */
export function carriedHeaders(route: WebhookRouteProps): string[] {
  const names = (route.forwardHeaders ?? WEBHOOK_QUEUE_DEFAULTS.forwardHeaders).map((h) =>
    h.toLowerCase(),
  );
  if (route.verify !== undefined) names.push(...verifyHeaders(route.verify));
  return [...new Set(names)];
}

function contentTypesOf(route: WebhookRouteProps): readonly string[] {
  if (route.contentTypes !== undefined) return route.contentTypes;
  const json = typeof route.group === 'object' && 'json' in route.group;
  return json ? JSON_GROUP_CONTENT_TYPES : DEFAULT_CONTENT_TYPES;
}

function templateRoute(route: WebhookRouteProps) {
  return {
    name: route.name,
    group: route.group,
    dedupHeader: route.dedupHeader,
    carriedHeaders: carriedHeaders(route),
  };
}

/** Refuse what AWS would refuse at deploy time, or what would break ordering or delivery. */
function validate(props: WebhookQueueProps): Settings {
  const d = WEBHOOK_QUEUE_DEFAULTS;
  const maxConcurrency = props.maxConcurrency ?? d.maxConcurrency;
  const s: Settings = {
    visibilityTimeoutSeconds: seconds(props.visibilityTimeout, d.visibilityTimeoutSeconds),
    maxReceiveCount: props.maxReceiveCount ?? d.maxReceiveCount,
    retentionSeconds: seconds(props.retentionPeriod, d.retentionSeconds),
    dlqRetentionSeconds: seconds(props.dlqRetentionPeriod, d.dlqRetentionSeconds),
    lambdaTimeoutSeconds: seconds(props.lambdaTimeout, d.lambdaTimeoutSeconds),
    requestTimeoutSeconds: seconds(props.requestTimeout, d.requestTimeoutSeconds),
    batchSize: props.batchSize ?? d.batchSize,
    maxConcurrency,
    reservedConcurrency:
      props.reservedConcurrency === false
        ? undefined
        : (props.reservedConcurrency ?? maxConcurrency),
    stageName: props.stageName ?? d.stageName,
    throttlingRateLimit: props.throttlingRateLimit ?? d.throttlingRateLimit,
    throttlingBurstLimit: props.throttlingBurstLimit ?? d.throttlingBurstLimit,
    oldestMessageAgeAlarmSeconds: seconds(
      props.oldestMessageAgeAlarm,
      d.oldestMessageAgeAlarmSeconds,
    ),
  };
  for (const [prop, value] of Object.entries(s)) {
    if (Token.isUnresolved(value)) fail(prop, 'must be known at synthesis, not a token');
  }
  if (props.name !== undefined && !new RegExp(`^[A-Za-z0-9_-]{1,${MAX_NAME}}$`).test(props.name)) {
    fail(
      'name',
      `must be 1 to ${MAX_NAME} letters, digits, "-" or "_", so that "<name>-forwarder" fits the 64 characters of a Lambda function or IAM role name (got "${props.name}", ${props.name.length} characters)`,
    );
  }
  const whole = (prop: string, value: number, min: number, max: number, why: string) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      fail(prop, `must be a whole number from ${min} to ${max}${why} (got ${value})`);
    }
  };
  whole('visibilityTimeout', s.visibilityTimeoutSeconds, 0, 43_200, ' seconds (SQS limit)');
  whole('lambdaTimeout', s.lambdaTimeoutSeconds, 1, 900, ' seconds (Lambda limit)');
  if (s.lambdaTimeoutSeconds > s.visibilityTimeoutSeconds) {
    fail(
      'lambdaTimeout',
      `(${s.lambdaTimeoutSeconds}s) must not exceed visibilityTimeout (${s.visibilityTimeoutSeconds}s): Lambda refuses such an event source, and a message could be received again while its first delivery still runs`,
    );
  }
  whole('requestTimeout', s.requestTimeoutSeconds, 1, 900, ' seconds');
  if (s.requestTimeoutSeconds + DEADLINE_MARGIN_SECONDS > s.lambdaTimeoutSeconds) {
    fail(
      'requestTimeout',
      `(${s.requestTimeoutSeconds}s) must be at least ${DEADLINE_MARGIN_SECONDS}s shorter than lambdaTimeout (${s.lambdaTimeoutSeconds}s), so a hanging request ends before the function does`,
    );
  }
  whole('batchSize', s.batchSize, 1, 10, ' (the most an SQS FIFO event source takes)');
  whole('maxConcurrency', s.maxConcurrency, 2, 1000, ' (Lambda maximum concurrency range)');
  if (s.reservedConcurrency !== undefined) {
    whole('reservedConcurrency', s.reservedConcurrency, s.maxConcurrency, 1000, '');
  }
  whole('maxReceiveCount', s.maxReceiveCount, 1, 1000, ' (SQS redrive policy range)');
  whole('retentionPeriod', s.retentionSeconds, 60, 1_209_600, ' seconds (1 minute to 14 days)');
  whole(
    'dlqRetentionPeriod',
    s.dlqRetentionSeconds,
    60,
    1_209_600,
    ' seconds (1 minute to 14 days)',
  );
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(s.stageName)) {
    fail('stageName', `must be letters, digits, "-" and "_" (got "${s.stageName}")`);
  }
  if (!(s.throttlingRateLimit > 0)) fail('throttlingRateLimit', 'must be above 0');
  whole('throttlingBurstLimit', s.throttlingBurstLimit, 1, 1_000_000, '');
  whole('oldestMessageAgeAlarm', s.oldestMessageAgeAlarmSeconds, 60, 1_209_600, ' seconds');

  const secret = props.signingSecret;
  if (secret !== undefined && !Token.isUnresolved(secret) && !isStandardWebhooksSecret(secret)) {
    fail('signingSecret', STANDARD_WEBHOOKS_SECRET_FORM);
  }

  if (props.routes.length === 0) fail('routes', 'must list at least one route');
  const names = new Set<string>();
  const keys = new Set<string>();
  for (const [index, route] of props.routes.entries()) {
    const at = `routes[${index}]`;
    if (!ROUTE_NAME.test(route.name) || route.name.length > MAX_ROUTE_NAME) {
      fail(
        `${at}.name`,
        `must be 1 to ${MAX_ROUTE_NAME} letters, digits, "-", "_" and "." (got "${route.name}")`,
      );
    }
    if (names.has(route.name)) fail(`${at}.name`, `"${route.name}" is used by another route`);
    names.add(route.name);
    if (!ROUTE_PATH.test(route.path)) {
      fail(
        `${at}.path`,
        `must be "/" or 1 to 4 segments of letters, digits, ".", "-" and "_", such as /hooks/github (got "${route.path}")`,
      );
    }
    const method = route.method ?? 'POST';
    if (!/^[A-Z]+$/.test(method))
      fail(`${at}.method`, `must be an HTTP method such as POST (got "${method}")`);
    const key = `${method} ${route.path}`;
    if (keys.has(key)) fail(`${at}.path`, `"${key}" is used by another route`);
    keys.add(key);
    if (!URL.canParse(route.target) || !/^https?:$/.test(new URL(route.target).protocol)) {
      fail(`${at}.target`, 'must be an http:// or https:// URL');
    }
    const group = route.group;
    if (typeof group === 'string') {
      if (!SQS_ID.test(group)) {
        fail(
          `${at}.group`,
          `must be 1 to 128 letters, digits and ASCII punctuation, as SQS requires (got "${group}")`,
        );
      }
    } else if (group !== undefined && 'header' in group) {
      checkHeaderName(`${at}.group.header`, group.header);
    } else if (group !== undefined) {
      if (!JSON_GROUP_POINTER.test(group.json)) {
        fail(
          `${at}.group.json`,
          `must be a JSON Pointer of object keys (letters, digits, "_") and array indexes, such as /approval/id (got "${group.json}")`,
        );
      }
    }
    if (route.dedupHeader !== undefined) checkHeaderName(`${at}.dedupHeader`, route.dedupHeader);
    for (const [position, header] of (route.forwardHeaders ?? []).entries()) {
      checkHeaderName(`${at}.forwardHeaders[${position}]`, header);
    }
    if (route.verify !== undefined) checkVerify(`${at}.verify`, route.verify);
    const carried = carriedHeaders(route);
    if (carried.length > MAX_CARRIED_HEADERS) {
      fail(
        `${at}.forwardHeaders`,
        `with the headers of verify, carries ${carried.length} headers; at most ${MAX_CARRIED_HEADERS} fit, as SQS allows 10 message attributes and two are the route and the receive time`,
      );
    }
    for (const [position, type] of contentTypesOf(route).entries()) {
      if (!CONTENT_TYPE.test(type)) {
        fail(`${at}.contentTypes[${position}]`, `must be a media type such as application/json`);
      }
    }
  }
  return s;
}

function checkHeaderName(prop: string, name: string): void {
  if (!FORWARDABLE_HEADER.test(name.toLowerCase())) {
    fail(prop, `must be a header name of letters, digits, "-" and "_" (got "${name}")`);
  }
}

/** What the forwarder will get in HOOKQ_ROUTES for this route's `verify`. */
function verifySection(verify: WebhookVerifyProps): Record<string, unknown> {
  const section: Record<string, unknown> = { scheme: verify.scheme };
  if (verify.secret !== undefined) section.secret = verify.secret;
  if (verify.secrets !== undefined) section.secrets = [...verify.secrets];
  if (verify.tolerance !== undefined) section.tolerance = `${verify.tolerance.toSeconds()}s`;
  if (verify.header !== undefined) section.header = verify.header;
  if (verify.encoding !== undefined) section.encoding = verify.encoding;
  if (verify.prefix !== undefined) section.prefix = verify.prefix;
  return section;
}

/** The forwarder's own rules, so that what synthesizes also starts. */
function checkVerify(prop: string, verify: WebhookVerifyProps): void {
  const secrets = [verify.secret, ...(verify.secrets ?? [])];
  // A secret from a token (SSM, Secrets Manager) is only known at deploy time.
  if (secrets.some((value) => value !== undefined && Token.isUnresolved(value))) return;
  const result = parseVerify(verifySection(verify));
  if (Array.isArray(result)) {
    const [first] = result;
    if (first) fail(subKey(prop, first.key), first.message);
  }
}

/** The environment of the forwarder: see src/aws/lambda-config.ts. */
function forwarderEnvironment(
  scope: Construct,
  props: WebhookQueueProps,
  s: Settings,
): Record<string, string> {
  const routes = props.routes.map((route) => {
    const entry: Record<string, unknown> = { name: route.name, target: route.target };
    // Messages carry the route attribute; the group only matters for messages sent to the
    // queue by something else, so a static group still finds its route.
    if (typeof route.group === 'string' && route.group !== route.name) entry.groups = [route.group];
    if (route.verify !== undefined) entry.verify = verifySection(route.verify);
    return entry;
  });
  const environment: Record<string, string> = {
    [ENV.routes]: Stack.of(scope).toJsonString(routes),
    [ENV.timeout]: `${s.requestTimeoutSeconds}s`,
    [ENV.maxReceiveCount]: String(s.maxReceiveCount),
  };
  if (props.signingSecret !== undefined) environment[ENV.signingSecret] = props.signingSecret;
  return environment;
}

function defaultCode(): lambda.Code {
  if (!existsSync(`${DEFAULT_BUNDLE_DIR}index.mjs`)) {
    throw new Error(
      `WebhookQueue: lambdaCode is not set and there is no bundle at ${DEFAULT_BUNDLE_DIR}index.mjs; run "node deploy/build-lambda.mjs" first, or pass lambdaCode`,
    );
  }
  return lambda.Code.fromAsset(DEFAULT_BUNDLE_DIR);
}
