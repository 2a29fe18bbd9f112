/**
 * The Lambda function's entry point (bundled by deploy/build-lambda.mjs; handler
 * `index.handler`). The configuration is read at cold start: a wrong environment stops
 * the function before it takes a message, and the error, naming the variable, is logged
 * as one JSON line and reported by Lambda as an initialisation error.
 */
import { createLogger } from '../log.js';
import { ENV, loadLambdaConfig } from './lambda-config.js';
import { changeMessageVisibility, credentialsFromEnv } from './sqs-client.js';
import type { FifoRecord } from './sqs-event.js';
import { createSqsForwarder } from './sqs-forwarder.js';

/** Visibility 0 for a message that failed verification, with the function's own credentials. */
async function releaseNow(record: FifoRecord): Promise<void> {
  const credentials = credentialsFromEnv(process.env);
  if (credentials === undefined) throw new Error('no AWS credentials in the environment');
  if (record.queueArn === undefined || record.receiptHandle === undefined) {
    throw new Error('the record has no eventSourceARN or receiptHandle');
  }
  await changeMessageVisibility({
    queueArn: record.queueArn,
    receiptHandle: record.receiptHandle,
    visibilityTimeoutSeconds: 0,
    credentials,
  });
}

function start() {
  try {
    const config = loadLambdaConfig(process.env);
    return createSqsForwarder(config, { logger: createLogger(config.logLevel), releaseNow });
  } catch (error) {
    const logger = createLogger(process.env[ENV.logLevel] === 'silent' ? 'silent' : 'error');
    logger.fatal(
      { error: error instanceof Error ? error.message : String(error) },
      'configuration rejected',
    );
    throw error;
  }
}

export const handler = start();
