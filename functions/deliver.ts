import type { SNSEvent, SNSEventRecord } from 'aws-lambda';
import { deleteConnection, listUserConnections } from './adapters/connection-store.ts';
import { createInboxStore } from './adapters/inbox-store.ts';
import { createConnectionPoster } from './adapters/management-api.ts';
import { keepRejected } from './adapters/rejected-queue.ts';
import { DEFAULT_RETENTION_SECONDS, type Envelope, parseEnvelope } from './shared/envelope.ts';
import { fanOut, mapBounded, settleBounded } from './domain/fan-out.ts';
import { markPushed, releaseLease, storeOnce } from './domain/inbox.ts';
import { estimateFrameBytes, MAX_FRAME_BYTES } from './shared/message-frame.ts';
import { positiveIntEnv, requireEnv } from './lib/config.ts';
import { InvalidEnvelopeError } from './shared/errors.ts';
import { count, logger, metrics } from './lib/observability.ts';
import { ENV } from './shared/environment.ts';
import type { MessageFrame } from './shared/protocol.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  callbackUrl: requireEnv(ENV.callbackUrl),
  rejectedQueueUrl: requireEnv(ENV.rejectedQueueUrl),
  concurrency: positiveIntEnv(ENV.deliveryConcurrency, 32),
});
const poster = createConnectionPoster(config.callbackUrl, { maxSockets: config.concurrency });
const inbox = createInboxStore(config.tableName);

/** DynamoDB calls in flight per invocation (storing, querying, pruning). */
const TABLE_CONCURRENCY = 16;

/**
 * SNS-triggered delivery. Per record: validate the envelope (invalid ones are kept in the rejected
 * queue, never retried), store it once per user, post it to every connection of every user, and
 * prune connections API Gateway reports gone. Only a table failure, or a duplicate of a message
 * another attempt is still delivering, throws, so that Lambda retries the event; the per-user
 * markers make the retry store and push nothing twice.
 */
export async function handler(event: SNSEvent): Promise<void> {
  try {
    for (const record of event.Records) await deliverRecord(record);
  } finally {
    metrics.publishStoredMetrics();
  }
}

async function deliverRecord(record: SNSEventRecord): Promise<void> {
  const sns = record.Sns;
  let envelope: Envelope;
  try {
    envelope = parseEnvelope(sns.Message);
    checkSupported(envelope, sns.MessageId);
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
  if (!('users' in envelope.to)) return; // checkSupported refused the other shapes

  // SNS repeats MessageId on a duplicate delivery, so it is a safe idempotency key when the sender gave none.
  const id = envelope.id ?? sns.MessageId;
  const ts = Date.parse(sns.Timestamp) || Date.now();
  const users = [...new Set(envelope.to.users)];
  const persist = envelope.persist ?? true;
  const message = { id, type: envelope.type, source: envelope.source, data: envelope.data ?? null, ts };

  // Per user, the connections are looked up only after the message is stored: a device that connects
  // in between then finds the message when it resumes, and a device connected before gets the push.
  // (Looking them up first would leave a window in which a device gets neither.)
  const settled = await settleBounded(
    users,
    async (userId) => {
      const decision = await storeOnce(inbox, userId, message, {
        persist,
        retentionSeconds: envelope.ttl ?? DEFAULT_RETENTION_SECONDS,
        nowMs: Date.now(),
      });
      const connections = decision.push ? await listUserConnections(config.tableName, userId) : [];
      return { userId, decision, connections };
    },
    TABLE_CONCURRENCY,
  );
  // Users this attempt now owns (it holds their lease and must push to them).
  const recipients = settled.flatMap((result) =>
    result.ok && result.value.decision.push ? [result.value] : [],
  );
  const failure = settled.find((result) => !result.ok);
  if (failure && !failure.ok) {
    // Lambda retries the whole event: hand the leases back so the retry need not wait for them.
    await settleBounded(recipients, ({ userId }) => releaseLease(inbox, userId, id), TABLE_CONCURRENCY);
    throw failure.error;
  }
  const targets = recipients.flatMap(({ userId, decision, connections }) => {
    const frame: MessageFrame = {
      kind: 'message',
      ...message,
      ...(decision.seq !== undefined ? { seq: decision.seq } : {}),
    };
    if (frame.source === undefined) delete frame.source;
    const body = JSON.stringify(frame);
    return connections.map((connection) => ({ userId, connectionId: connection.connectionId, body }));
  });

  const summary = await fanOut(
    targets,
    (target) => poster.post(target.connectionId, target.body),
    config.concurrency,
  );
  const gone = summary.outcomes.filter((result) => result.outcome === 'gone');
  await mapBounded(
    gone,
    ({ target }) => pruneConnection(target.userId, target.connectionId),
    TABLE_CONCURRENCY,
  );
  await mapBounded(recipients, ({ userId }) => markPushed(inbox, userId, id), TABLE_CONCURRENCY);

  for (const result of summary.outcomes) {
    if (result.outcome === 'failed') {
      logger.warn('Post failed after retries', {
        connectionId: result.target.connectionId,
        error: result.error as Error,
      });
    }
  }
  count('delivered', summary.delivered);
  count('gone', summary.gone);
  count('failed', summary.failed);
  count('duplicates', users.length - recipients.length);
  logger.info('Delivered', {
    messageId: id,
    users: users.length,
    connections: targets.length,
    delivered: summary.delivered,
    gone: summary.gone,
    failed: summary.failed,
    duplicates: users.length - recipients.length,
  });
}

/** Refuses what this version cannot deliver, with a reason the publisher can act on. */
function checkSupported(envelope: Envelope, snsMessageId: string): void {
  if (!('users' in envelope.to)) {
    throw new InvalidEnvelopeError('topic and broadcast addressing are not supported yet; address users');
  }
  const bytes = estimateFrameBytes({
    id: envelope.id ?? snsMessageId,
    type: envelope.type,
    source: envelope.source,
    data: envelope.data,
  });
  if (bytes > MAX_FRAME_BYTES) {
    throw new InvalidEnvelopeError(
      `the message is ${bytes} bytes as posted to a connection; API Gateway accepts at most ${MAX_FRAME_BYTES}`,
    );
  }
}

/** Deletes exactly the connection API Gateway answered Gone for; a failure here harms no delivery. */
async function pruneConnection(userId: string, connectionId: string): Promise<void> {
  try {
    await deleteConnection(config.tableName, userId, connectionId);
  } catch (error) {
    logger.warn('Could not delete a gone connection; its TTL will', { connectionId, error: error as Error });
  }
}
