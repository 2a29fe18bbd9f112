/**
 * The Terraform module, parsed with an HCL parser and checked for the resources and
 * attributes the CDK construct synthesizes. Where the terraform binary is installed, the
 * module's wire locals are also evaluated (no provider, no network) and compared with
 * what the construct writes for the same routes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from '@cdktf/hcl2json';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  LOG_ACTIONS,
  RECEIVE_ACTIONS,
  SEND_ACTIONS,
  sendMessageParameters,
  WEBHOOK_QUEUE_DEFAULTS,
  WebhookQueue,
  type WebhookRouteProps,
} from '../../deploy/cdk/webhook-queue.js';
import { ENV } from '../../src/aws/lambda-config.js';
import { tempDir } from '../helpers/config.js';

const moduleDir = fileURLToPath(new URL('../../deploy/terraform/', import.meta.url));

/** HCL as JSON: blocks are lists, expressions are "${...}" strings. */
// biome-ignore lint/suspicious/noExplicitAny: parsed HCL, checked by the assertions
type Hcl = any;

async function parseDir(dir: string): Promise<Hcl> {
  const merged: Hcl = {};
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.tf'))) {
    const document = await parse(file, readFileSync(join(dir, file), 'utf8'));
    for (const [kind, entries] of Object.entries(document as Record<string, Hcl>)) {
      if (kind === 'locals') {
        merged.locals = Object.assign(merged.locals ?? {}, ...entries);
      } else if (kind === 'resource' || kind === 'data') {
        merged[kind] ??= {};
        for (const [type, named] of Object.entries(entries as Record<string, Hcl>)) {
          merged[kind][type] = { ...merged[kind][type], ...named };
        }
      } else {
        merged[kind] = { ...merged[kind], ...entries };
      }
    }
  }
  return merged;
}

let tf: Hcl;
const resource = (type: string, name: string) => {
  const block = tf.resource?.[type]?.[name]?.[0];
  assert.ok(block, `resource "${type}" "${name}"`);
  return block;
};
const data = (type: string, name: string) => {
  const block = tf.data?.[type]?.[name]?.[0];
  assert.ok(block, `data "${type}" "${name}"`);
  return block;
};
const variable = (name: string) => {
  const block = tf.variable?.[name]?.[0];
  assert.ok(block, `variable "${name}"`);
  return block;
};

before(async () => {
  tf = await parseDir(moduleDir);
});

const ROUTES: WebhookRouteProps[] = [
  {
    name: 'approvals',
    path: '/sqs-hook',
    target: 'https://app.example.com/webhook',
    group: { header: 'X-Request-Id' },
    forwardHeaders: ['content-type', 'User-Agent'],
  },
  {
    name: 'github',
    path: '/github',
    target: 'https://app.example.com/github',
    group: 'gh',
    dedupHeader: 'X-GitHub-Delivery',
  },
  { name: 'plain', path: '/plain', target: 'https://app.example.com/plain' },
];

function cdkTemplate(): Template {
  // The construct's template is validated against CloudFormation in webhook-queue.test.ts.
  const stack = new Stack(new App({ builtinCloudFormationValidation: false }), 'Test');
  new WebhookQueue(stack, 'Webhooks', {
    routes: ROUTES,
    lambdaCode: lambda.Code.fromInline('export const handler = async () => ({});'),
  });
  return Template.fromStack(stack);
}

/** The CloudFormation resource types of the construct, and the Terraform ones that make them. */
const COUNTERPARTS: Array<[cfn: string, terraform: string[]]> = [
  ['AWS::SQS::Queue', ['aws_sqs_queue.queue', 'aws_sqs_queue.dlq']],
  ['AWS::SQS::QueuePolicy', ['aws_sqs_queue_policy.tls_only']],
  ['AWS::ApiGatewayV2::Api', ['aws_apigatewayv2_api.this']],
  ['AWS::ApiGatewayV2::Stage', ['aws_apigatewayv2_stage.default']],
  ['AWS::ApiGatewayV2::Integration', ['aws_apigatewayv2_integration.route']],
  ['AWS::ApiGatewayV2::Route', ['aws_apigatewayv2_route.route']],
  ['AWS::IAM::Role', ['aws_iam_role.send', 'aws_iam_role.forwarder']],
  ['AWS::Logs::LogGroup', ['aws_cloudwatch_log_group.forwarder']],
  ['AWS::Lambda::Function', ['aws_lambda_function.forwarder']],
  ['AWS::Lambda::EventSourceMapping', ['aws_lambda_event_source_mapping.forwarder']],
];

describe('Terraform module: the resources of the CDK construct', () => {
  test('every resource type the construct synthesizes has its Terraform counterpart', () => {
    const cfnTypes = new Set(
      Object.values(cdkTemplate().toJSON().Resources as Record<string, { Type: string }>).map(
        (r) => r.Type,
      ),
    );
    assert.deepEqual([...cfnTypes].sort(), COUNTERPARTS.map(([cfn]) => cfn).sort());
    for (const [, names] of COUNTERPARTS) {
      for (const name of names) {
        const [type, label] = name.split('.') as [string, string];
        resource(type, label);
      }
    }
  });

  test('the FIFO queue: content-based deduplication, visibility timeout, redrive to the FIFO DLQ', () => {
    const queue = resource('aws_sqs_queue', 'queue');
    assert.equal(queue.name, `\${var.name}.fifo`);
    assert.equal(queue.fifo_queue, true);
    assert.equal(queue.content_based_deduplication, true);
    assert.equal(queue.visibility_timeout_seconds, `\${var.visibility_timeout_seconds}`);
    assert.equal(queue.message_retention_seconds, `\${var.retention_seconds}`);
    assert.equal(queue.sqs_managed_sse_enabled, true);
    assert.match(queue.redrive_policy, /deadLetterTargetArn\s*=\s*aws_sqs_queue\.dlq\.arn/);
    assert.match(queue.redrive_policy, /maxReceiveCount\s*=\s*var\.max_receive_count/);
    const dlq = resource('aws_sqs_queue', 'dlq');
    assert.equal(dlq.name, `\${var.name}-dlq.fifo`);
    assert.equal(dlq.fifo_queue, true);
    assert.equal(dlq.message_retention_seconds, `\${var.dlq_retention_seconds}`);
    const tls = resource('aws_sqs_queue_policy', 'tls_only');
    assert.deepEqual(tls.for_each, {
      queue: `\${aws_sqs_queue.queue}`,
      dlq: `\${aws_sqs_queue.dlq}`,
    });
    assert.match(tls.policy, /"aws:SecureTransport"\s*=\s*"false"/);
  });

  test('an HTTP API and $default stage only when no http_api_id is given', () => {
    assert.equal(
      resource('aws_apigatewayv2_api', 'this').count,
      `\${var.http_api_id == null ? 1 : 0}`,
    );
    assert.equal(resource('aws_apigatewayv2_api', 'this').protocol_type, 'HTTP');
    const stage = resource('aws_apigatewayv2_stage', 'default');
    assert.equal(stage.count, `\${var.http_api_id == null ? 1 : 0}`);
    assert.equal(stage.name, '$default');
    assert.equal(stage.auto_deploy, true);
    assert.match(
      tf.locals.api_id,
      /var\.http_api_id != null \? var\.http_api_id : aws_apigatewayv2_api\.this\[0\]\.id/,
    );
  });

  test('per route: an SQS-SendMessage integration with the send-only role, and its route', () => {
    const integration = resource('aws_apigatewayv2_integration', 'route');
    assert.equal(integration.for_each, `\${local.routes}`);
    assert.equal(integration.api_id, `\${local.api_id}`);
    assert.equal(integration.integration_type, 'AWS_PROXY');
    assert.equal(integration.integration_subtype, 'SQS-SendMessage');
    assert.equal(integration.payload_format_version, '1.0');
    assert.equal(integration.credentials_arn, `\${aws_iam_role.send.arn}`);
    assert.match(integration.request_parameters, /QueueUrl = aws_sqs_queue\.queue\.url/);
    assert.match(integration.request_parameters, /local\.send_message_parameters\[each\.key\]/);
    const route = resource('aws_apigatewayv2_route', 'route');
    assert.equal(route.route_key, `\${each.value.method} \${each.value.path}`);
    assert.equal(route.target, `integrations/\${aws_apigatewayv2_integration.route[each.key].id}`);
  });

  test('the request parameters use the message attribute names the Lambda reads', () => {
    const parameters = tf.locals.send_message_parameters as string;
    assert.match(parameters, /MessageBody\s+= "\$request\.body"/);
    assert.match(
      parameters,
      /MessageDeduplicationId = "\$request\.header\.\$\{lower\(r\.dedup_header\)\}"/,
    );
    const attributes = tf.locals.message_attributes as string;
    assert.match(attributes, /route = \{ DataType = "String", StringValue = r\.name \}/);
    assert.match(attributes, /"header\.\$\{lower\(h\)\}"/);
    assert.match(attributes, /StringValue = "=\$\$\{request\.header\.\$\{lower\(h\)\}\}"/);
    assert.match(
      tf.locals.message_group_id,
      /"\$\{r\.name\}:\$\$\{request\.header\.\$\{lower\(r\.group_header\)\}\}"/,
    );
  });
});

describe('Terraform module: least-privilege IAM', () => {
  const statement = (document: string) => data('aws_iam_policy_document', document).statement[0];

  test('API Gateway assumes a role that may only send to the queue', () => {
    const trust = statement('apigateway_assume_role');
    assert.deepEqual(trust.principals[0].identifiers, ['apigateway.amazonaws.com']);
    assert.equal(
      resource('aws_iam_role', 'send').assume_role_policy,
      `\${data.aws_iam_policy_document.apigateway_assume_role.json}`,
    );
    const send = statement('send_only');
    assert.deepEqual(send.actions, [...SEND_ACTIONS]);
    assert.deepEqual(send.resources, [`\${aws_sqs_queue.queue.arn}`]);
    assert.equal(resource('aws_iam_role_policy', 'send_only').role, `\${aws_iam_role.send.id}`);
    assert.deepEqual(resource('aws_iam_role_policies_exclusive', 'send').policy_names, [
      `\${aws_iam_role_policy.send_only.name}`,
    ]);
  });

  test('the Lambda role may only receive from the queue and write its own log group', () => {
    assert.deepEqual(statement('lambda_assume_role').principals[0].identifiers, [
      'lambda.amazonaws.com',
    ]);
    const receive = statement('receive_only');
    assert.deepEqual(receive.actions, [...RECEIVE_ACTIONS]);
    assert.deepEqual(receive.resources, [`\${aws_sqs_queue.queue.arn}`]);
    const logs = statement('logs');
    assert.deepEqual(logs.actions, [...LOG_ACTIONS]);
    assert.deepEqual(logs.resources, [`\${aws_cloudwatch_log_group.forwarder.arn}:*`]);
    assert.deepEqual(resource('aws_iam_role_policies_exclusive', 'forwarder').policy_names, [
      `\${aws_iam_role_policy.receive_only.name}`,
      `\${aws_iam_role_policy.logs.name}`,
    ]);
  });

  test('no managed policies, no other policy documents', () => {
    assert.equal(tf.resource.aws_iam_role_policy_attachment, undefined);
    assert.equal(tf.resource.aws_iam_policy, undefined);
    assert.deepEqual(Object.keys(tf.data.aws_iam_policy_document).sort(), [
      'apigateway_assume_role',
      'lambda_assume_role',
      'logs',
      'receive_only',
      'send_only',
    ]);
    for (const role of ['send', 'forwarder']) {
      assert.equal(resource('aws_iam_role', role).managed_policy_arns, undefined);
    }
  });
});

describe('Terraform module: the Lambda forwarder and its event source mapping', () => {
  test('the function runs the given bundle with the forwarder environment', () => {
    const fn = resource('aws_lambda_function', 'forwarder');
    assert.equal(fn.handler, 'index.handler');
    assert.equal(fn.runtime, `\${var.lambda_runtime}`);
    assert.equal(fn.timeout, `\${var.lambda_timeout_seconds}`);
    assert.equal(fn.role, `\${aws_iam_role.forwarder.arn}`);
    assert.equal(fn.filename, `\${data.archive_file.forwarder.output_path}`);
    assert.equal(data('archive_file', 'forwarder').source_file, `\${var.lambda_bundle}`);
    assert.equal(fn.environment[0].variables, `\${local.forwarder_environment}`);
    assert.equal(fn.logging_config[0].log_group, `\${aws_cloudwatch_log_group.forwarder.name}`);
    const environment = tf.locals.forwarder_environment as string;
    for (const name of [ENV.routes, ENV.timeout, ENV.maxReceiveCount, ENV.signingSecret]) {
      assert.match(environment, new RegExp(`\\b${name}\\s*=`), name);
    }
  });

  test('the event source mapping: the queue, batch size, maximum concurrency, partial batch responses', () => {
    const mapping = resource('aws_lambda_event_source_mapping', 'forwarder');
    assert.equal(mapping.event_source_arn, `\${aws_sqs_queue.queue.arn}`);
    assert.equal(mapping.function_name, `\${aws_lambda_function.forwarder.arn}`);
    assert.equal(mapping.batch_size, `\${var.batch_size}`);
    assert.deepEqual(mapping.function_response_types, ['ReportBatchItemFailures']);
    assert.equal(mapping.scaling_config[0].maximum_concurrency, `\${var.max_concurrency}`);
  });

  test('refuses a Lambda timeout above the visibility timeout, naming both variables', () => {
    const checks = resource('aws_lambda_function', 'forwarder').lifecycle[0].precondition;
    const check = checks.find((p: Hcl) => p.condition.includes('visibility_timeout_seconds'));
    assert.equal(
      check.condition,
      `\${var.lambda_timeout_seconds <= var.visibility_timeout_seconds}`,
    );
    assert.match(
      check.error_message,
      /lambda_timeout_seconds must not exceed visibility_timeout_seconds/,
    );
  });

  test('refuses a batch size above 10 and a maximum concurrency outside 2 to 1000', () => {
    const condition = (name: string) => variable(name).validation[0].condition as string;
    assert.match(condition('batch_size'), /var\.batch_size >= 1 && var\.batch_size <= 10/);
    assert.match(
      condition('max_concurrency'),
      /var\.max_concurrency >= 2 && var\.max_concurrency <= 1000/,
    );
    assert.match(variable('batch_size').validation[0].error_message, /^batch_size /);
    assert.match(variable('max_concurrency').validation[0].error_message, /^max_concurrency /);
  });
});

describe('Terraform module: variables', () => {
  test('the defaults are the construct’s', () => {
    const d = WEBHOOK_QUEUE_DEFAULTS;
    const defaults: Array<[string, unknown]> = [
      ['visibility_timeout_seconds', d.visibilityTimeoutSeconds],
      ['max_receive_count', d.maxReceiveCount],
      ['retention_seconds', d.retentionSeconds],
      ['dlq_retention_seconds', d.dlqRetentionSeconds],
      ['lambda_timeout_seconds', d.lambdaTimeoutSeconds],
      ['lambda_memory_size', d.lambdaMemorySize],
      ['request_timeout_seconds', d.requestTimeoutSeconds],
      ['batch_size', d.batchSize],
      ['max_concurrency', d.maxConcurrency],
      ['log_retention_days', d.logRetentionDays],
    ];
    for (const [name, value] of defaults) assert.equal(variable(name).default, value, name);
    const fn = Object.values(cdkTemplate().findResources('AWS::Lambda::Function'))[0] as Hcl;
    assert.equal(variable('lambda_runtime').default, fn.Properties.Runtime);
    assert.deepEqual([variable('lambda_architecture').default], fn.Properties.Architectures);
    assert.match(
      variable('routes').type,
      new RegExp(
        `forward_headers\\s*=\\s*optional\\(list\\(string\\), \\[${d.forwardHeaders.map((h) => `"${h}"`).join(', ')}\\]\\)`,
      ),
    );
    assert.equal(variable('http_api_id').default, null);
    assert.equal(variable('signing_secret').sensitive, true);
  });

  test('the example uses the module with the built bundle', async () => {
    const example = await parseDir(join(moduleDir, 'examples/basic'));
    const webhooks = example.module.webhooks[0];
    assert.equal(webhooks.source, '../..');
    assert.match(webhooks.lambda_bundle, /dist\/lambda\/index\.mjs$/);
    assert.match(JSON.stringify(webhooks.routes), /\/sqs-hook/);
  });
});

const terraform = (() => {
  try {
    execFileSync('terraform', ['version'], { stdio: 'ignore', env: terraformEnv() });
    return true;
  } catch {
    return false;
  }
})();

function terraformEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    CHECKPOINT_DISABLE: '1',
    TF_IN_AUTOMATION: '1',
    TF_CLI_CONFIG_FILE: '/dev/null',
  };
}

describe('Terraform module: evaluated by terraform (no provider, no network)', () => {
  const skip = terraform ? false : 'terraform is not installed';

  /** A directory with the module's variables and wire locals only, and these settings. */
  function workspace(tfvars: string): string {
    const dir = tempDir('hookq-tf-');
    for (const file of ['variables.tf', 'wire.tf']) {
      copyFileSync(join(moduleDir, file), join(dir, file));
    }
    writeFileSync(join(dir, 'test.auto.tfvars'), tfvars);
    return dir;
  }

  const hclRoutes = `routes = [
  { name = "approvals", path = "/sqs-hook", target = "https://app.example.com/webhook", group_header = "X-Request-Id", forward_headers = ["content-type", "User-Agent"] },
  { name = "github", path = "/github", target = "https://app.example.com/github", group = "gh", dedup_header = "X-GitHub-Delivery" },
  { name = "plain", path = "/plain", target = "https://app.example.com/plain" },
]
lambda_bundle = "dist/lambda/index.mjs"
`;

  test('request parameters and environment equal the construct’s for the same routes', {
    skip,
  }, async () => {
    const dir = workspace(hclRoutes);
    const json = async (expression: string) => {
      const result = await evaluate(dir, `jsonencode(${expression})`);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(JSON.parse(result.stdout.trim()) as string);
    };
    const parameters = (await json('local.send_message_parameters')) as Record<
      string,
      Record<string, string>
    >;
    const environment = (await json('nonsensitive(local.forwarder_environment)')) as Record<
      string,
      string
    >;

    for (const route of ROUTES) {
      const { QueueUrl: _queueUrl, MessageAttributes, ...rest } = sendMessageParameters(route, '');
      const { MessageAttributes: attributes, ...fromTerraform } = parameters[route.name]!;
      assert.deepEqual(fromTerraform, rest, route.name);
      assert.deepEqual(JSON.parse(attributes!), JSON.parse(MessageAttributes!), route.name);
    }
    const fn = Object.values(cdkTemplate().findResources('AWS::Lambda::Function'))[0] as Hcl;
    const cdkEnvironment = fn.Properties.Environment.Variables as Record<string, string>;
    assert.deepEqual(Object.keys(environment).sort(), Object.keys(cdkEnvironment).sort());
    assert.equal(environment.HOOKQ_TIMEOUT, cdkEnvironment.HOOKQ_TIMEOUT);
    assert.equal(environment.HOOKQ_MAX_RECEIVE_COUNT, cdkEnvironment.HOOKQ_MAX_RECEIVE_COUNT);
    assert.deepEqual(
      JSON.parse(environment.HOOKQ_ROUTES!),
      JSON.parse(cdkEnvironment.HOOKQ_ROUTES!),
    );
  });

  test('refuses a batch size above 10 and a maximum concurrency of 1', { skip }, async () => {
    for (const [setting, message] of [
      ['batch_size = 11', /batch_size must be a whole number from 1 to 10/],
      ['max_concurrency = 1', /max_concurrency must be a whole number from 2 to 1000/],
    ] as const) {
      const result = await evaluate(workspace(`${hclRoutes}${setting}\n`), 'var.batch_size');
      assert.match(`${result.stdout}${result.stderr}`, message);
    }
  });
});

/** `terraform console` in `dir`, given one expression on its standard input. */
function evaluate(
  dir: string,
  expression: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('terraform', ['console', '-no-color'], { cwd: dir, env: terraformEnv() });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin.end(`${expression}\n`);
  const killer = setTimeout(() => child.kill(), 30_000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}
