import type { Context, SNSEvent } from 'aws-lambda';
import { createAudienceStore } from './adapters/audience-store.ts';
import { createEventSink } from './adapters/event-sink.ts';
import { createConnectionPoster } from './adapters/management-api.ts';
import { createPartQueue, parsePartText } from './adapters/part-queue.ts';
import { type FanoutPart, type FanoutPorts, type PartReport, runPart } from './domain/audience.ts';
import { oneOfEnv, optionalEnv, positiveIntEnv, requireEnv } from './lib/config.ts';
import { count, eventSinkReports, logger, publishCounts } from './lib/observability.ts';
import { ENV } from './shared/environment.ts';
import { FANOUT_TIMEOUT_SECONDS } from './shared/limits.ts';
import { DEFAULT_MANAGEMENT_CLIENT, MANAGEMENT_CLIENTS } from './shared/management-client.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  callbackUrl: requireEnv(ENV.callbackUrl),
  managementClient: oneOfEnv(ENV.managementClient, MANAGEMENT_CLIENTS, DEFAULT_MANAGEMENT_CLIENT),
  fanoutTopicArn: requireEnv(ENV.fanoutTopicArn),
  concurrency: positiveIntEnv(ENV.deliveryConcurrency, 32),
  maxConnections: positiveIntEnv(ENV.fanoutConnectionsPerInvocation, 5_000),
  postsPerSecond: positiveIntEnv(ENV.fanoutPostsPerSecond, 500),
  eventsTopicArn: optionalEnv(ENV.eventsTopicArn),
});
const ports: FanoutPorts = {
  audience: createAudienceStore(config.tableName),
  queue: createPartQueue(config.fanoutTopicArn),
  poster: createConnectionPoster(config.callbackUrl, {
    maxSockets: config.concurrency,
    client: config.managementClient,
  }),
  warn: (message, details) => logger.warn(message, details),
};
const events = createEventSink(config.eventsTopicArn, eventSinkReports);

/** Time kept back from the timeout: no page is started after it, the rest of the shard is handed on. */
const DEADLINE_MARGIN_MS = 15_000;

/**
 * Runs fan-out parts (one shard's share of a topic or broadcast message) from the internal fan-out
 * topic: domain/audience.ts `runPart`. A part that cannot be read is logged and dropped (only this
 * project's functions publish to that topic); a table or queue failure throws, and Lambda retries it.
 */
export async function handler(event: SNSEvent, context?: Pick<Context, 'getRemainingTimeInMillis'>) {
  try {
    for (const record of event.Records) {
      const part = parsePartText(record.Sns.Message);
      if (part === undefined) {
        logger.error('Not a fan-out part; dropped', { snsMessageId: record.Sns.MessageId });
        continue;
      }
      const remaining = context?.getRemainingTimeInMillis();
      const report = await runPart(ports, part, {
        owner: crypto.randomUUID(),
        maxConnections: config.maxConnections,
        postsPerSecond: config.postsPerSecond,
        postConcurrency: config.concurrency,
        staleMs: FANOUT_TIMEOUT_SECONDS * 1000,
        deadlineMs:
          remaining === undefined
            ? undefined
            : Date.now() + Math.max(remaining - DEADLINE_MARGIN_MS, remaining / 2),
      });
      count('fanoutDelivered', report.delivered);
      count('gone', report.gone);
      count('fanoutFailed', report.failed);
      logger.info('Fan-out part', {
        messageId: part.messageId,
        shard: part.shard,
        after: part.after,
        ...report,
      });
      await emitDelivered(part, report);
    }
  } finally {
    publishCounts();
  }
}

/** A `delivered` event for a part of a topic or broadcast message that posted to connections. */
async function emitDelivered(part: FanoutPart, report: PartReport): Promise<void> {
  if (report.duplicate || report.delivered === 0) return;
  const frame = JSON.parse(part.frame) as { kind?: unknown; type?: unknown };
  if (frame.kind !== 'message' || typeof frame.type !== 'string') return; // presence frames: no receipts
  await events.emit([
    {
      event: 'delivered',
      messageId: part.messageId,
      type: frame.type,
      connections: report.delivered,
      ...('topic' in part.audience ? { topic: part.audience.topic } : { broadcast: true as const }),
      ts: Date.now(),
    },
  ]);
}
