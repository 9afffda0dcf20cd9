import type { Context, SNSEvent } from 'aws-lambda';
import { createAudienceStore } from './adapters/audience-store.ts';
import { createConnectionPoster } from './adapters/management-api.ts';
import { createPartQueue, parsePartText } from './adapters/part-queue.ts';
import { type FanoutPorts, runPart } from './domain/audience.ts';
import { positiveIntEnv, requireEnv } from './lib/config.ts';
import { count, logger, metrics } from './lib/observability.ts';
import { ENV } from './shared/environment.ts';
import { FANOUT_TIMEOUT_SECONDS } from './shared/limits.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  callbackUrl: requireEnv(ENV.callbackUrl),
  fanoutTopicArn: requireEnv(ENV.fanoutTopicArn),
  concurrency: positiveIntEnv(ENV.deliveryConcurrency, 32),
  maxConnections: positiveIntEnv(ENV.fanoutConnectionsPerInvocation, 5_000),
  postsPerSecond: positiveIntEnv(ENV.fanoutPostsPerSecond, 500),
});
const ports: FanoutPorts = {
  audience: createAudienceStore(config.tableName),
  queue: createPartQueue(config.fanoutTopicArn),
  poster: createConnectionPoster(config.callbackUrl, { maxSockets: config.concurrency }),
  warn: (message, details) => logger.warn(message, details),
};

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
    }
  } finally {
    metrics.publishStoredMetrics();
  }
}
