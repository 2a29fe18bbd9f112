/**
 * The Lambda function's entry point (bundled by deploy/build-lambda.mjs; handler
 * `index.handler`). The configuration is read at cold start: a wrong environment stops
 * the function before it takes a message, and the error, naming the variable, is logged
 * as one JSON line and reported by Lambda as an initialisation error.
 */
import { createLogger } from '../log.js';
import { ENV, loadLambdaConfig } from './lambda-config.js';
import { createSqsForwarder } from './sqs-forwarder.js';

function start() {
  try {
    const config = loadLambdaConfig(process.env);
    return createSqsForwarder(config, { logger: createLogger(config.logLevel) });
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
