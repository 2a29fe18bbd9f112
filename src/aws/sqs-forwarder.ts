/**
 * The Lambda side of hookq on AWS: an SQS FIFO event source mapping hands it batches of
 * webhooks, and it forwards them with hookq's Forwarder (timeout, headers, Hookq-*
 * headers, optional signing), in order.
 *
 * Ordering. For FIFO queues AWS's rule for partial batch responses is: once a record
 * fails, stop, and report it and every later record in `batchItemFailures`. Later records
 * may be of the same group; sending one of them after a failure would deliver message N+1
 * before message N. Reported records return to the queue after the visibility timeout,
 * and SQS holds back the rest of their groups until they are done.
 *
 * Verification. A route with `verify` checks the provider's signature before forwarding,
 * with hookq's own verifiers and the time the webhook arrived as "now" (the received-at
 * attribute, else SentTimestamp), so a retry or a redrive hours later still passes a
 * timestamped scheme. A message that fails is not forwarded: it is reported as failed,
 * its reason logged, and made visible again at once, so that SQS moves it to the
 * dead-letter queue after maxReceiveCount quick receives instead of holding its group for
 * maxReceiveCount visibility timeouts.
 *
 * Deadline. The handler keeps its own deadline, a margin before the Lambda's: a request
 * is cut off at that deadline, and a later record whose full request timeout no longer
 * fits is not started but reported. A hanging target so costs one record an attempt,
 * never the whole invocation (a timed-out invocation returns every record, delivered or
 * not, and they would all be sent again).
 */
import type { Context, SQSBatchResponse } from 'aws-lambda';
import { Forwarder, type ForwardMessage } from '../delivery/forwarder.js';
import { verifySignature } from '../ingress/verify/index.js';
import type { Logger } from '../log.js';
import type { AttemptRecord } from '../store/store.js';
import type { LambdaConfig, LambdaRoute } from './lambda-config.js';
import { RouteTable } from './route-table.js';
import { type FifoRecord, MalformedEventError, parseFifoEvent } from './sqs-event.js';

/** What the handler uses of the Lambda context. */
export type InvocationContext = Pick<Context, 'getRemainingTimeInMillis'> &
  Partial<Pick<Context, 'awsRequestId'>>;

export type SqsForwarderHandler = (
  event: unknown,
  context: InvocationContext,
) => Promise<SQSBatchResponse>;

export interface SqsForwarderOptions {
  logger: Logger;
  /**
   * A forwarder to use for every invocation (tests). By default each invocation opens its
   * own and closes it before returning: Lambda freezes the process between invocations,
   * a kept-alive connection may be closed by the other side meanwhile, and a POST sent on
   * such a connection fails without being retried.
   */
  forwarder?: Forwarder;
  now?: () => number;
  /**
   * Make a message visible again at once (SQS ChangeMessageVisibility to 0): used for a
   * message that failed verification. Without it such a message returns after the
   * visibility timeout, as any failure does.
   */
  releaseNow?: (record: FifoRecord) => Promise<void>;
}

/** How a record that was not delivered ended. */
type Failure =
  | { kind: 'attempt'; route: LambdaRoute; attempt: AttemptRecord }
  | { kind: 'unroutable'; error: string }
  | { kind: 'rejected'; route: LambdaRoute; reason: string }
  | { kind: 'deferred'; route: LambdaRoute; remainingMs: number };

export function createSqsForwarder(
  config: LambdaConfig,
  options: SqsForwarderOptions,
): SqsForwarderHandler {
  const routes = new RouteTable(config.routes);
  const now = options.now ?? Date.now;

  return async (event, context) => {
    const deadline = now() + context.getRemainingTimeInMillis() - config.deadlineMarginMs;
    const log = options.logger.child({ requestId: context.awsRequestId });

    let records: FifoRecord[];
    try {
      records = parseFifoEvent(event);
    } catch (error) {
      if (error instanceof MalformedEventError) {
        log.error({ path: error.path, error: error.message }, 'malformed event');
      }
      // Failing the invocation returns the whole batch to the queue untouched.
      throw error;
    }

    const forwarder =
      options.forwarder ??
      new Forwarder({
        longestTimeoutMs: Math.max(...config.routes.map((route) => route.timeoutMs)),
      });
    try {
      for (const [index, record] of records.entries()) {
        const failure = await deliver(forwarder, record, index === 0);
        if (failure === null) continue;
        const returned = records.slice(index);
        logFailure(log, record, failure, config.maxReceiveCount);
        if (failure.kind === 'rejected') await release(record);
        if (returned.length > 1) {
          log.info(
            {
              messageId: record.messageId,
              returned: returned.length,
              notStarted: returned.slice(1).map((r) => r.messageId),
            },
            'batch stopped at the first failure; later records go back to the queue untried',
          );
        }
        return { batchItemFailures: returned.map((r) => ({ itemIdentifier: r.messageId })) };
      }
      return { batchItemFailures: [] };
    } finally {
      if (forwarder !== options.forwarder) await forwarder.close();
    }

    async function release(record: FifoRecord): Promise<void> {
      if (options.releaseNow === undefined) return;
      try {
        await options.releaseNow(record);
      } catch (error) {
        log.warn(
          {
            messageId: record.messageId,
            error: error instanceof Error ? error.message : String(error),
          },
          'could not make the rejected message visible again at once; it returns after the visibility timeout',
        );
      }
    }

    /** Null when delivered. */
    async function deliver(
      forwarder: Forwarder,
      record: FifoRecord,
      first: boolean,
    ): Promise<Failure | null> {
      const match = routes.find(record.routeAttribute, record.groupId);
      if ('error' in match) return { kind: 'unroutable', error: match.error };
      const { route } = match;

      if (route.verify !== undefined) {
        const verdict = verifySignature(
          route.verify,
          headerLookup(record),
          Buffer.from(record.body, 'utf8'),
          record.receivedAt,
        );
        if (!verdict.ok) return { kind: 'rejected', route, reason: verdict.reason };
      }

      const remainingMs = deadline - now();
      // The first record always gets what time there is, so a short Lambda timeout still
      // makes progress; later ones start only with their full timeout ahead of them.
      if (remainingMs <= 0 || (!first && remainingMs < route.timeoutMs)) {
        return { kind: 'deferred', route, remainingMs };
      }
      const timeoutMs = Math.min(route.timeoutMs, remainingMs);

      let attempt: AttemptRecord;
      try {
        attempt = await forwarder.forward(forwardMessage(record, route), {
          target: route.target,
          timeoutMs,
          forwardHeaders: route.forwardHeaders,
          sign: config.sign,
        });
      } catch (error) {
        // The forwarder reports what targets do; a throw is a fault of ours. It fails the
        // record rather than the invocation, which would send the delivered ones again.
        attempt = {
          startedAt: now(),
          durationMs: 0,
          outcome: 'network_error',
          status: null,
          responseExcerpt: null,
          error: error instanceof Error ? error.message : String(error),
        };
      }
      if (attempt.outcome === 'delivered') {
        log.info(
          {
            ...identity(record, route),
            status: attempt.status,
            durationMs: Math.round(attempt.durationMs),
          },
          'delivered',
        );
        return null;
      }
      return { kind: 'attempt', route, attempt };
    }
  };
}

/** The carried headers by lower-case name, as the verifiers look them up. */
function headerLookup(record: FifoRecord): (name: string) => string | undefined {
  const headers = new Map(record.headers);
  return (name) => headers.get(name);
}

function forwardMessage(record: FifoRecord, route: LambdaRoute): ForwardMessage {
  return {
    id: record.messageId,
    route: route.name,
    group: record.groupId,
    sequence: record.sequenceNumber,
    attempt: record.receiveCount,
    receivedAt: record.receivedAt,
    headers: record.headers,
    body: Buffer.from(record.body, 'utf8'),
  };
}

function identity(record: FifoRecord, route: LambdaRoute | undefined) {
  return {
    messageId: record.messageId,
    route: route?.name,
    group: record.groupId,
    sequence: record.sequenceNumber,
    attempt: record.receiveCount,
  };
}

function logFailure(
  log: Logger,
  record: FifoRecord,
  failure: Failure,
  maxReceiveCount: number | undefined,
): void {
  // SQS, not this function, moves a message to the dead-letter queue: after a failed
  // receive number maxReceiveCount.
  const next =
    maxReceiveCount !== undefined && record.receiveCount >= maxReceiveCount
      ? 'dead-letter queue'
      : 'retry after the visibility timeout';
  const base = { ...identity(record, 'route' in failure ? failure.route : undefined), next };
  switch (failure.kind) {
    case 'attempt': {
      const { attempt } = failure;
      log.warn(
        {
          ...base,
          outcome: attempt.outcome,
          status: attempt.status,
          durationMs: Math.round(attempt.durationMs),
          error: attempt.error,
        },
        'delivery failed',
      );
      return;
    }
    case 'rejected':
      log.error(
        {
          ...base,
          scheme: failure.route.verify?.scheme,
          reason: failure.reason,
          receivedAt: new Date(record.receivedAt).toISOString(),
          next:
            next === 'dead-letter queue'
              ? next
              : 'received again at once, until SQS moves it to the dead-letter queue',
        },
        'signature verification failed: not forwarded',
      );
      return;
    case 'unroutable':
      log.error(
        { ...base, routeAttribute: record.routeAttribute, error: failure.error },
        'no route',
      );
      return;
    case 'deferred':
      log.warn(
        { ...base, remainingMs: Math.max(0, Math.round(failure.remainingMs)) },
        'not started: too close to the Lambda timeout',
      );
      return;
  }
}
