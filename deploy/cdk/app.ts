/**
 * Example CDK app: the design of the original article (one webhook route, `POST /sqs-hook`,
 * into a FIFO queue, forwarded by a Lambda) with hookq's forwarder.
 *
 *   node deploy/build-lambda.mjs
 *   cd deploy/cdk && npx aws-cdk@2 deploy -c target=https://app.example.com/webhook
 *
 * Context (-c key=value): target (required to deploy), restApiId and rootResourceId (add
 * the route to an existing REST API), name (base name of the resources, default
 * hookq-webhooks).
 */
import { pathToFileURL } from 'node:url';
import { App, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { WebhookQueue } from './webhook-queue.js';

export interface ExampleOptions {
  /** Stand-in for the bundle (tests). */
  lambdaCode?: lambda.Code;
  stackProps?: StackProps;
}

export function exampleStack(app: App, options: ExampleOptions = {}): Stack {
  const context = (key: string): string | undefined => {
    const value: unknown = app.node.tryGetContext(key);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const stack = new Stack(app, 'HookqWebhookQueue', {
    description: 'hookq: webhook ingress through an SQS FIFO queue to the application',
    ...options.stackProps,
  });
  const restApiId = context('restApiId');
  const rootResourceId = context('rootResourceId');
  if ((restApiId === undefined) !== (rootResourceId === undefined)) {
    throw new Error('give both -c restApiId=... and -c rootResourceId=..., or neither');
  }
  const webhooks = new WebhookQueue(stack, 'Webhooks', {
    name: context('name') ?? 'hookq-webhooks',
    restApi:
      restApiId !== undefined && rootResourceId !== undefined
        ? { restApiId, rootResourceId }
        : undefined,
    lambdaCode: options.lambdaCode,
    routes: [
      {
        name: 'approvals',
        path: '/sqs-hook',
        target: context('target') ?? 'https://app.example.com/webhook',
        // One group per approval, read from the body: the events of one approval stay in
        // order, different approvals proceed in parallel. (A request id would make one
        // group per message: no order at all.)
        group: { json: '/approval/id' },
        forwardHeaders: ['content-type', 'user-agent'],
      },
    ],
  });
  const url = webhooks.webhookUrls.approvals;
  if (url !== undefined) new CfnOutput(stack, 'WebhookUrl', { value: url });
  new CfnOutput(stack, 'QueueUrl', { value: webhooks.queue.queueUrl });
  new CfnOutput(stack, 'DeadLetterQueueArn', { value: webhooks.deadLetterQueue.queueArn });
  new CfnOutput(stack, 'QueueArn', { value: webhooks.queue.queueArn });
  return stack;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const app = new App();
  exampleStack(app, {
    stackProps: {
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    },
  });
  app.synth();
}
