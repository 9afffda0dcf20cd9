import type { Context, SNSEvent, SNSEventRecord } from 'aws-lambda';
import { createConnectionDirectory } from './adapters/connection-store.ts';
import { createInboxStore } from './adapters/inbox-store.ts';
import { createConnectionPoster } from './adapters/management-api.ts';
import { keepRejected } from './adapters/rejected-queue.ts';
import {
  DeliveryIncompleteError,
  type DeliveryPorts,
  deliver,
  type UserDelivery,
} from './domain/delivery.ts';
import { positiveIntEnv, requireEnv } from './lib/config.ts';
import { count, logger, metrics } from './lib/observability.ts';
import { DEFAULT_RETENTION_SECONDS, parseEnvelope } from './shared/envelope.ts';
import { ENV } from './shared/environment.ts';
import { InvalidEnvelopeError } from './shared/errors.ts';
import { frameSizeProblem } from './shared/message-frame.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  callbackUrl: requireEnv(ENV.callbackUrl),
  rejectedQueueUrl: requireEnv(ENV.rejectedQueueUrl),
  concurrency: positiveIntEnv(ENV.deliveryConcurrency, 32),
});
const ports: DeliveryPorts = {
  inbox: createInboxStore(config.tableName),
  connections: createConnectionDirectory(config.tableName),
  poster: createConnectionPoster(config.callbackUrl, { maxSockets: config.concurrency }),
  warn: (message, details) => logger.warn(message, details),
};

/** DynamoDB calls in flight per invocation (storing, querying, pruning). */
const TABLE_CONCURRENCY = 16;

/**
 * Time kept back from the function's timeout: no new user is started after it, so that posts in
 * flight (each bounded by the poster's timeouts and retries) end, and unstarted users are handed
 * back to Lambda's retry, before the function is cut.
 */
const DEADLINE_MARGIN_MS = 25_000;

/**
 * SNS-triggered delivery. Per record: validate the envelope (invalid ones are kept in the rejected
 * queue, never retried), then run the delivery sequence (domain/delivery.ts). Only users that could
 * not be delivered to make it throw, so that Lambda retries the event; the per-user rows make the
 * retry do nothing for everyone already delivered to.
 */
export async function handler(event: SNSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) {
  try {
    for (const record of event.Records) await deliverRecord(record, context);
  } finally {
    metrics.publishStoredMetrics();
  }
}

async function deliverRecord(
  record: SNSEventRecord,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<void> {
  const sns = record.Sns;
  let message: UserDelivery;
  try {
    message = toDelivery(sns);
  } catch (error) {
    if (!(error instanceof InvalidEnvelopeError)) throw error;
    await keepRejected(config.rejectedQueueUrl, {
      body: sns.Message,
      reason: error.reason,
      snsMessageId: sns.MessageId,
      topicArn: sns.TopicArn,
    });
    logger.warn('Envelope rejected', { snsMessageId: sns.MessageId, reason: error.reason });
    count('rejected', 1);
    return;
  }

  const report = await deliver(ports, message, {
    // Unique per attempt: Lambda retries an event with the same request id, and a retry must not
    // mistake the rows of users the first attempt delivered to for its own.
    owner: crypto.randomUUID(),
    postConcurrency: config.concurrency,
    tableConcurrency: TABLE_CONCURRENCY,
    deadlineMs: context === undefined ? undefined : deadlineOf(context.getRemainingTimeInMillis()),
  });
  count('delivered', report.delivered);
  count('gone', report.gone);
  count('duplicates', report.duplicates);
  count('retried', report.retryUsers.length);
  logger.info('Delivered', { messageId: message.id, addressed: message.users.length, ...report });
  if (report.retryUsers.length > 0) throw new DeliveryIncompleteError(message.id, report.retryUsers);
}

/** When to stop starting users: the margin before the timeout, or half the time left if that is less. */
function deadlineOf(remainingMs: number): number {
  return Date.now() + Math.max(remainingMs - DEADLINE_MARGIN_MS, remainingMs / 2);
}

/** Validates an SNS message into a delivery; throws InvalidEnvelopeError with a reason. */
function toDelivery(sns: SNSEventRecord['Sns']): UserDelivery {
  const { envelope, dataJson } = parseEnvelope(sns.Message);
  if (!('users' in envelope.to)) {
    throw new InvalidEnvelopeError('topic and broadcast addressing are not supported yet; address users');
  }
  // SNS repeats MessageId on a duplicate delivery, so it is a safe idempotency key when the sender gave none.
  const id = envelope.id ?? sns.MessageId;
  const tooLarge = frameSizeProblem({ id, type: envelope.type, source: envelope.source, dataJson });
  if (tooLarge !== undefined) throw new InvalidEnvelopeError(tooLarge);
  return {
    id,
    users: envelope.to.users,
    type: envelope.type,
    source: envelope.source,
    dataJson,
    ts: Date.parse(sns.Timestamp) || Date.now(),
    persist: envelope.persist ?? true,
    retentionSeconds: envelope.ttl ?? DEFAULT_RETENTION_SECONDS,
  };
}
