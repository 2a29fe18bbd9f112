/**
 * The Terraform module, run by Terraform: `init`, `validate` and `plan` (with fake
 * credentials and no refresh, so nothing reaches AWS), and assertions on the plan's JSON
 * (`terraform show -json`). Terraform must be on PATH, with whatever CLI configuration
 * the environment provides (a provider mirror, for a machine without the registry). Where
 * it is not installed these tests are skipped, saying why, unless CI is set: then that is
 * a failure, as for PostgreSQL.
 *
 * One working directory per file, initialised once; each plan rewrites its root module
 * (main.tf.json), which instantiates the module once per scenario.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { WEBHOOK_QUEUE_DEFAULTS, WebhookQueue } from '../../deploy/cdk/webhook-queue.js';
import { loadLambdaConfig } from '../../src/aws/lambda-config.js';
import { tempDir } from '../helpers/config.js';
import {
  cdkRoutes,
  GITHUB_SECRET,
  ROUTE_CASES,
  type RouteName,
  roundTripTests,
  TARGET,
  terraformRoutes,
} from './ingress-cases.js';

const run = promisify(execFile);
const moduleDir = fileURLToPath(new URL('../../deploy/terraform/', import.meta.url));

/** Terraform's environment: the caller's (its CLI configuration included), made quiet. */
const TF_ENV = {
  ...process.env,
  TF_IN_AUTOMATION: '1',
  TF_INPUT: '0',
  CHECKPOINT_DISABLE: '1',
  AWS_EC2_METADATA_DISABLED: 'true',
};

function terraformVersion(): string | undefined {
  const result = spawnSync('terraform', ['version', '-json'], { encoding: 'utf8', env: TF_ENV });
  if (result.error || result.status !== 0) return undefined;
  return (JSON.parse(result.stdout) as { terraform_version: string }).terraform_version;
}

/**
 * Where terraform can find the hashicorp/aws provider without a network: a CLI
 * configuration (with a provider mirror) or one of terraform's implied plugin folders.
 */
function offlineProviderSource(): string | undefined {
  const configured = process.env.TF_CLI_CONFIG_FILE ?? join(homedir(), '.terraformrc');
  const candidates = [
    configured,
    join(homedir(), '.terraform.d', 'plugins'),
    '/usr/local/share/terraform/plugins',
    '/usr/share/terraform/plugins',
  ];
  return candidates.find((candidate) => existsSync(candidate));
}

const version = terraformVersion();
if (version === undefined && process.env.CI) {
  test('terraform is installed', () => {
    assert.fail('terraform is not on PATH and CI is set: the Terraform module must be tested');
  });
}
const SKIP =
  version === undefined
    ? 'terraform is not on PATH: install Terraform 1.5 or later to test the module (with CI set this fails instead)'
    : offlineProviderSource() === undefined
      ? 'terraform finds no offline copy of the hashicorp/aws provider (no CLI configuration with a provider mirror, no local plugins folder), and these tests reach no network'
      : false;

/** What a plan gives back; a failed one too. */
interface Outcome {
  code: number;
  output: string;
}

/** Plan JSON is untyped; the assertions say what they expect. */
// biome-ignore lint/suspicious/noExplicitAny: terraform show -json, checked by the assertions
type PlanJson = any;

const dir = version === undefined ? '' : tempDir('hookq-terraform-');
const zip = join(dir, 'forwarder.zip');

async function terraform(args: string[], cwd = dir): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run('terraform', args, {
      cwd,
      env: TF_ENV,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failure.code ?? 1, output: (failure.stdout ?? '') + (failure.stderr ?? '') };
  }
}

const PROVIDER = {
  region: 'us-east-2',
  access_key: 'AKIAIOSFODNN7EXAMPLE',
  secret_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  skip_credentials_validation: true,
  skip_requesting_account_id: true,
  skip_metadata_api_check: true,
  skip_region_validation: true,
};

const SIGNING_SECRET = `whsec_${Buffer.from('hookq lambda signing key, 32 b.').toString('base64')}`;
const TOPIC = 'arn:aws:sns:us-east-2:123456789012:pager';

/** Each scenario is one call of the module; a plan runs some of them. */
const SCENARIOS: Record<string, Record<string, unknown>> = {
  full: {
    name: 'hookq-full',
    ...terraformRoutes(),
    signing_secret: SIGNING_SECRET,
    alarm_topic_arn: TOPIC,
  },
  existing_api: {
    name: 'hookq-existing',
    routes: [{ name: 'plain', path: '/hooks/plain', target: TARGET }],
    rest_api_id: 'a1b2c3d4e5',
    rest_api_root_resource_id: 'r00tid',
    reserved_concurrency: -1,
  },
  warned: {
    name: 'hookq-warned',
    routes: [{ name: 'plain', path: '/plain', target: TARGET }],
    visibility_timeout_seconds: 60,
  },
  bad_variables: {
    name: 'n'.repeat(55),
    routes: [
      {
        name: 'bad',
        path: '/a/b/c/d/e',
        target: TARGET,
        group_json: '/data/object-id',
        forward_headers: Array.from({ length: 9 }, (_, i) => `x-h${i}`),
      },
    ],
  },
  bad_settings: {
    name: 'hookq-bad',
    routes: [{ name: 'signed', path: '/signed', target: TARGET, verify: { scheme: 'github' } }],
    lambda_timeout_seconds: 61,
    visibility_timeout_seconds: 60,
    request_timeout_seconds: 10,
    max_concurrency: 5,
    reserved_concurrency: 3,
    rest_api_id: 'a1b2c3d4e5',
  },
  kept: { name: 'hookq-renamed', routes: [{ name: 'plain', path: '/plain', target: TARGET }] },
};

/** A root module calling the module once per scenario, in `at`. */
function writeRoot(at: string, scenarios: string[]): void {
  const module = Object.fromEntries(
    scenarios.map((name) => [name, { source: moduleDir, lambda_zip: zip, ...SCENARIOS[name] }]),
  );
  const root = {
    terraform: { required_providers: { aws: { source: 'hashicorp/aws' } } },
    provider: { aws: PROVIDER },
    module,
  };
  writeFileSync(join(at, 'main.tf.json'), JSON.stringify(root, null, 2));
}

/**
 * Another root beside the initialised one, sharing its .terraform (providers and module
 * list, which name every scenario), so that plans of different roots run at once.
 */
function siblingRoot(name: string, scenarios: string[]): string {
  const at = join(dir, name);
  mkdirSync(at);
  symlinkSync(join(dir, '.terraform'), join(at, '.terraform'));
  copyFileSync(join(dir, '.terraform.lock.hcl'), join(at, '.terraform.lock.hcl'));
  writeRoot(at, scenarios);
  return at;
}

const PLAN = ['plan', '-input=false', '-no-color', '-refresh=false', '-lock=false'];

let plan: PlanJson;
let failures: Outcome;
let destroyGuard: Outcome;
let validated: Outcome;

before(async () => {
  if (SKIP) return;
  writeFileSync(zip, Buffer.from('PK\u0005\u0006'.padEnd(22, '\u0000'), 'latin1'));
  writeRoot(dir, Object.keys(SCENARIOS));
  const init = await terraform(['init', '-input=false', '-no-color']);
  assert.equal(init.code, 0, init.output);

  const planned = siblingRoot('planned', ['full', 'existing_api', 'warned']);
  // Variable validations stop a plan before any precondition is checked: apart.
  const badVariables = siblingRoot('bad-variables', ['bad_variables']);
  const badSettings = siblingRoot('bad-settings', ['bad_settings']);
  // A DLQ that exists (in the state) under an old name, and a new name in the config.
  const renamed = siblingRoot('renamed', ['kept']);
  writeFileSync(join(renamed, 'terraform.tfstate'), JSON.stringify(stateWithDlq('hookq-kept')));

  const valid = siblingRoot('valid', ['full', 'existing_api', 'warned']);
  const [full, variables, settings, guard, validation] = await Promise.all([
    terraform([...PLAN, '-out=full.plan'], planned).then(async (outcome) => {
      assert.equal(outcome.code, 0, outcome.output);
      return terraform(['show', '-json', '-no-color', 'full.plan'], planned);
    }),
    terraform(PLAN, badVariables),
    terraform(PLAN, badSettings),
    terraform(PLAN, renamed),
    terraform(['validate', '-json', '-no-color'], valid),
  ]);
  validated = validation;
  assert.equal(full.code, 0, full.output);
  plan = JSON.parse(full.output.slice(full.output.indexOf('{')));
  failures = {
    code: Math.min(variables.code, settings.code),
    output: `${variables.output}\n${settings.output}`.replace(/[\s│]+/g, ' '),
  };
  destroyGuard = guard;
});

after(() => {
  // The working directory holds a copy of the AWS provider: hundreds of megabytes.
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

function stateWithDlq(name: string) {
  const arn = `arn:aws:sqs:us-east-2:123456789012:${name}-dlq.fifo`;
  const url = `https://sqs.us-east-2.amazonaws.com/123456789012/${name}-dlq.fifo`;
  return {
    version: 4,
    terraform_version: version,
    serial: 1,
    lineage: '6f4d3c2b-1a09-4e8f-9d7c-6b5a4f3e2d1c',
    outputs: {},
    resources: [
      {
        module: 'module.kept',
        mode: 'managed',
        type: 'aws_sqs_queue',
        name: 'dlq',
        provider: 'provider["registry.terraform.io/hashicorp/aws"]',
        instances: [
          {
            schema_version: 0,
            attributes: {
              id: url,
              arn,
              url,
              name: `${name}-dlq.fifo`,
              fifo_queue: true,
              message_retention_seconds: 345600,
              sqs_managed_sse_enabled: true,
              tags: {},
              tags_all: {},
            },
          },
        ],
      },
    ],
  };
}

/** The planned resource changes of one scenario. */
function changes(scenario: string, type?: string): PlanJson[] {
  return plan.resource_changes.filter(
    (change: PlanJson) =>
      change.module_address === `module.${scenario}` &&
      (type === undefined || change.type === type),
  );
}

/** The planned values (after) of one resource. */
function after_(scenario: string, type: string, name: string, key?: string | number): PlanJson {
  const found = changes(scenario, type).filter(
    (change: PlanJson) => change.name === name && (key === undefined || change.index === key),
  );
  assert.equal(found.length, 1, `one ${type}.${name}${key ? `["${key}"]` : ''} in ${scenario}`);
  return found[0].change.after;
}

/** The module's configuration as Terraform read it (expressions, references). */
function configured(type: string, name: string, mode = 'managed'): PlanJson {
  const resources = plan.configuration.root_module.module_calls.full.module.resources;
  const found = resources.find(
    (r: PlanJson) => r.mode === mode && r.type === type && r.name === name,
  );
  assert.ok(found, `${type}.${name} in the configuration`);
  return found.expressions;
}

const templateOf = (route: RouteName) =>
  after_('full', 'aws_api_gateway_integration', 'route', route).request_templates[
    'application/json'
  ];

describe('Terraform module', { skip: SKIP }, () => {
  test('terraform validate accepts the module', () => {
    const result = JSON.parse(validated.output.slice(validated.output.indexOf('{')));
    assert.equal(result.valid, true, validated.output);
    assert.equal(result.error_count, 0);
  });

  describe('queues', () => {
    test('content-based deduplication only within a message group, as high-throughput FIFO needs', () => {
      const queue = after_('full', 'aws_sqs_queue', 'queue');
      assert.equal(queue.name, 'hookq-full.fifo');
      assert.equal(queue.fifo_queue, true);
      assert.equal(queue.content_based_deduplication, true);
      assert.equal(queue.deduplication_scope, 'messageGroup');
      assert.equal(queue.fifo_throughput_limit, 'perMessageGroupId');
      assert.equal(
        queue.visibility_timeout_seconds,
        WEBHOOK_QUEUE_DEFAULTS.visibilityTimeoutSeconds,
      );
      assert.equal(queue.message_retention_seconds, WEBHOOK_QUEUE_DEFAULTS.retentionSeconds);
      assert.equal(queue.sqs_managed_sse_enabled, true);
      const dlq = after_('full', 'aws_sqs_queue', 'dlq');
      assert.equal(dlq.name, 'hookq-full-dlq.fifo');
      assert.equal(dlq.fifo_queue, true);
      assert.equal(dlq.message_retention_seconds, WEBHOOK_QUEUE_DEFAULTS.dlqRetentionSeconds);
      const redrive = configured('aws_sqs_queue', 'queue').redrive_policy.references;
      assert.ok(redrive.includes('aws_sqs_queue.dlq.arn'), redrive);
      assert.ok(redrive.includes('var.max_receive_count'), redrive);
    });

    test('the dead-letter queue cannot be destroyed by Terraform, not even by a new name', () => {
      assert.notEqual(destroyGuard.code, 0, destroyGuard.output);
      assert.match(destroyGuard.output, /Instance cannot be destroyed/);
      assert.match(destroyGuard.output, /module\.kept\.aws_sqs_queue\.dlq/);
    });

    test('both queues refuse requests not made over TLS', () => {
      const policies = changes('full', 'aws_sqs_queue_policy').map((c: PlanJson) => c.index);
      assert.deepEqual(policies.sort(), ['dlq', 'queue']);
      const policy = configured('aws_sqs_queue_policy', 'tls_only').policy.references;
      assert.ok(policy.includes('each.value.arn'), policy);
    });
  });

  describe('REST API and the SQS integration', () => {
    test('a regional REST API, deployed to a throttled stage (the routes have no authorizer)', () => {
      const api = after_('full', 'aws_api_gateway_rest_api', 'this', 0);
      assert.equal(api.name, 'hookq-full-api');
      assert.deepEqual(api.endpoint_configuration[0].types, ['REGIONAL']);
      assert.equal(after_('full', 'aws_api_gateway_stage', 'this', 0).stage_name, 'webhooks');
      const settings = after_('full', 'aws_api_gateway_method_settings', 'throttling', 0);
      assert.equal(settings.method_path, '*/*');
      assert.equal(
        settings.settings[0].throttling_rate_limit,
        WEBHOOK_QUEUE_DEFAULTS.throttlingRateLimit,
      );
      assert.equal(
        settings.settings[0].throttling_burst_limit,
        WEBHOOK_QUEUE_DEFAULTS.throttlingBurstLimit,
      );
      assert.equal(changes('full', 'aws_api_gateway_deployment').length, 1);
    });

    test('one resource per path segment, one method and AWS integration per route', () => {
      const paths = changes('full', 'aws_api_gateway_resource').map((c: PlanJson) => c.index);
      assert.deepEqual(paths.sort(), [
        'hooks',
        'hooks/entities',
        'hooks/github',
        'plain',
        'sqs-hook',
      ]);
      const routes = Object.keys(ROUTE_CASES).sort();
      assert.deepEqual(
        changes('full', 'aws_api_gateway_method')
          .map((c: PlanJson) => c.index)
          .sort(),
        routes,
      );
      for (const name of routes) {
        const method = after_('full', 'aws_api_gateway_method', 'route', name);
        assert.equal(method.http_method, 'POST');
        assert.equal(method.authorization, 'NONE');
        const integration = after_('full', 'aws_api_gateway_integration', 'route', name);
        assert.equal(integration.type, 'AWS');
        assert.equal(integration.integration_http_method, 'POST');
        assert.equal(integration.passthrough_behavior, 'NEVER');
        assert.deepEqual(integration.request_parameters, {
          'integration.request.header.Content-Type': "'application/x-www-form-urlencoded'",
        });
      }
      const uri = configured('aws_api_gateway_integration', 'route').uri.references;
      assert.ok(uri.includes('aws_sqs_queue.queue.name'), uri);
      const responses = changes('full', 'aws_api_gateway_integration_response')
        .filter((c: PlanJson) => c.index.startsWith('plain '))
        .map((c: PlanJson) => [
          c.change.after.status_code,
          c.change.after.selection_pattern ?? null,
        ]);
      assert.deepEqual(responses.sort(), [
        ['200', null],
        ['503', '[45]\\d{2}'],
      ]);
    });

    test('the same mapping templates and content types as the CDK construct writes', () => {
      const stack = new Stack(new App(), 'Compare');
      new WebhookQueue(stack, 'Webhooks', {
        routes: cdkRoutes(),
        lambdaCode: lambda.Code.fromInline('export const handler = async () => ({});'),
      });
      const cdk = Template.fromStack(stack);
      // Terraform's maps come back with their keys sorted.
      const sorted = (templates: Record<string, string>) =>
        JSON.stringify(Object.entries(templates).sort(([a], [b]) => (a < b ? -1 : 1)));
      const cdkTemplates = new Set(
        Object.values(cdk.findResources('AWS::ApiGateway::Method')).map((m: PlanJson) =>
          sorted(m.Properties.Integration.RequestTemplates),
        ),
      );
      assert.equal(cdkTemplates.size, Object.keys(ROUTE_CASES).length);
      for (const name of Object.keys(ROUTE_CASES)) {
        const integration = after_('full', 'aws_api_gateway_integration', 'route', name);
        assert.ok(
          cdkTemplates.has(sorted(integration.request_templates)),
          `route ${name}: ${sorted(integration.request_templates).slice(0, 300)}`,
        );
      }
    });

    test('an existing REST API: its routes only, no API, deployment or stage of ours', () => {
      assert.equal(changes('existing_api', 'aws_api_gateway_rest_api').length, 0);
      assert.equal(changes('existing_api', 'aws_api_gateway_deployment').length, 0);
      assert.equal(changes('existing_api', 'aws_api_gateway_stage').length, 0);
      const hooks = after_('existing_api', 'aws_api_gateway_resource', 'depth1', 'hooks');
      assert.equal(hooks.rest_api_id, 'a1b2c3d4e5');
      assert.equal(hooks.parent_id, 'r00tid');
      assert.equal(
        after_('existing_api', 'aws_api_gateway_method', 'route', 'plain').rest_api_id,
        'a1b2c3d4e5',
      );
    });
  });

  describe('the mapping templates, rendered as API Gateway renders them', () => {
    roundTripTests(templateOf);
  });

  describe('the Lambda forwarder', () => {
    test('runs the given zip; its environment is a configuration the forwarder accepts', () => {
      const fn = after_('full', 'aws_lambda_function', 'forwarder');
      assert.equal(fn.function_name, 'hookq-full-forwarder');
      assert.equal(fn.handler, 'index.handler');
      assert.equal(fn.runtime, 'nodejs22.x');
      assert.deepEqual(fn.architectures, ['arm64']);
      assert.equal(fn.timeout, WEBHOOK_QUEUE_DEFAULTS.lambdaTimeoutSeconds);
      assert.equal(fn.memory_size, WEBHOOK_QUEUE_DEFAULTS.lambdaMemorySize);
      assert.equal(fn.filename, zip);
      assert.equal(
        fn.source_code_hash,
        createHash('sha256').update(readFileSync(zip)).digest('base64'),
      );
      const config = loadLambdaConfig(fn.environment[0].variables);
      assert.deepEqual(
        config.routes.map((r) => [r.name, r.target, r.groups, r.verify]),
        [
          ['approvals', TARGET, [], undefined],
          ['github', `${TARGET}/github`, ['gh'], { scheme: 'github', secrets: [GITHUB_SECRET] }],
          ['entities', `${TARGET}/entities`, [], undefined],
          ['plain', `${TARGET}/plain`, [], undefined],
        ],
      );
      assert.deepEqual(config.sign, { secret: SIGNING_SECRET });
      assert.equal(config.maxReceiveCount, WEBHOOK_QUEUE_DEFAULTS.maxReceiveCount);
    });

    test('reserved concurrency covers the mapping’s maximum concurrency, unless turned off', () => {
      assert.equal(
        after_('full', 'aws_lambda_function', 'forwarder').reserved_concurrent_executions,
        5,
      );
      assert.equal(
        after_('existing_api', 'aws_lambda_function', 'forwarder').reserved_concurrent_executions,
        -1,
      );
      const mapping = after_('full', 'aws_lambda_event_source_mapping', 'forwarder');
      assert.equal(mapping.batch_size, WEBHOOK_QUEUE_DEFAULTS.batchSize);
      assert.deepEqual(mapping.function_response_types, ['ReportBatchItemFailures']);
      assert.equal(
        mapping.scaling_config[0].maximum_concurrency,
        WEBHOOK_QUEUE_DEFAULTS.maxConcurrency,
      );
    });

    test('least privilege: API Gateway may only send to the queue, the Lambda only receive', () => {
      const statement = (name: string) =>
        configured('aws_iam_policy_document', name, 'data').statement[0];
      const send = statement('send_only');
      assert.deepEqual(send.actions.constant_value, ['sqs:SendMessage']);
      assert.ok(send.resources.references.includes('aws_sqs_queue.queue.arn'));
      const receive = statement('receive_only');
      assert.deepEqual(receive.actions.constant_value, [
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
      ]);
      assert.ok(receive.resources.references.includes('aws_sqs_queue.queue.arn'));
      assert.equal(changes('full', 'aws_iam_role').length, 2);
      assert.equal(changes('full', 'aws_iam_role_policy_attachment').length, 0);
      assert.equal(after_('full', 'aws_iam_role', 'forwarder').name, 'hookq-full-forwarder');
    });
  });

  describe('alarms', () => {
    test('the DLQ holding a message, the oldest message’s age, Lambda errors and throttles, to the topic', () => {
      const alarms = changes('full', 'aws_cloudwatch_metric_alarm');
      assert.deepEqual(
        alarms
          .map((a: PlanJson) => [a.name, a.change.after.namespace, a.change.after.metric_name])
          .sort(),
        [
          ['dead_letters', 'AWS/SQS', 'ApproximateNumberOfMessagesVisible'],
          ['errors', 'AWS/Lambda', 'Errors'],
          ['oldest_message_age', 'AWS/SQS', 'ApproximateAgeOfOldestMessage'],
          ['throttles', 'AWS/Lambda', 'Throttles'],
        ],
      );
      for (const alarm of alarms) {
        assert.deepEqual(alarm.change.after.alarm_actions, [TOPIC]);
        assert.deepEqual(alarm.change.after.ok_actions, [TOPIC]);
        assert.equal(alarm.change.after.comparison_operator, 'GreaterThanOrEqualToThreshold');
      }
      assert.equal(
        after_('full', 'aws_cloudwatch_metric_alarm', 'oldest_message_age').threshold,
        600,
      );
      const dimensions = configured('aws_cloudwatch_metric_alarm', 'dead_letters').dimensions
        .references;
      assert.ok(dimensions.includes('aws_sqs_queue.dlq.name'), dimensions);
      for (const alarm of changes('warned', 'aws_cloudwatch_metric_alarm')) {
        assert.deepEqual(alarm.change.after.alarm_actions ?? [], [], 'no topic: no actions');
      }
    });
  });

  describe('refused and warned settings', () => {
    test('a visibility timeout below 6 times the Lambda timeout warns, as CDK does', () => {
      const check = plan.checks.find(
        (c: PlanJson) =>
          c.address.to_display === 'module.warned.check.visibility_timeout_for_retries',
      );
      assert.equal(check?.status, 'fail');
      assert.match(
        JSON.stringify(check.instances[0].problems),
        /less than 6 times lambda_timeout_seconds/,
      );
      const full = plan.checks.find(
        (c: PlanJson) =>
          c.address.to_display === 'module.full.check.visibility_timeout_for_retries',
      );
      assert.equal(full?.status, 'pass');
    });

    test('variables refused with their reasons', () => {
      assert.notEqual(failures.code, 0);
      const output = failures.output;
      for (const reason of [
        /name must be 1 to 54 letters, digits, "-" or "_", so that "<name>-forwarder" fits the 64 characters/,
        /routes\[\*\]\.path must be "\/" or 1 to 4 segments/,
        /routes\[\*\]\.group_json must be a JSON Pointer/,
        /carry at most 8 headers/,
      ]) {
        assert.match(output, reason);
      }
    });

    test('settings that depend on each other refused by preconditions', () => {
      const output = failures.output;
      for (const reason of [
        /lambda_timeout_seconds must not exceed visibility_timeout_seconds/,
        /reserved_concurrency must be at least max_concurrency/,
        /rest_api_id and rest_api_root_resource_id go together/,
        /verify_secrets must hold at least one secret for each route with verify/,
      ]) {
        assert.match(output, reason);
      }
    });
  });
});
