import { createAudienceStore } from './adapters/audience-store.ts';
import { deleteConnection, findConnectionOwner } from './adapters/connection-store.ts';
import { createEventSink } from './adapters/event-sink.ts';
import { createPartQueue } from './adapters/part-queue.ts';
import { endConnection, type TopicPorts } from './domain/audience.ts';
import { listEnv, optionalEnv, requireEnv } from './lib/config.ts';
import { eventSinkReports, logger } from './lib/observability.ts';
import { userIdOf, type WebSocketEvent, type WebSocketResult } from './lib/websocket-event.ts';
import { ENV } from './shared/environment.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  fanoutTopicArn: requireEnv(ENV.fanoutTopicArn),
  presenceTopics: listEnv(ENV.presenceTopics),
  eventsTopicArn: optionalEnv(ENV.eventsTopicArn),
});
const events = createEventSink(config.eventsTopicArn, eventSinkReports);
const topicPorts: TopicPorts = {
  audience: createAudienceStore(config.tableName),
  queue: createPartQueue(config.fanoutTopicArn),
  rules: { open: [], presence: config.presenceTopics },
};

/**
 * `$disconnect` (best effort on AWS): deletes the connection's rows (its connection row, its
 * broadcast row and its subscriptions) and announces the presence leaves that causes. The user id
 * normally comes with the event; without it, the byConnection index finds the owner.
 */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  const { connectionId, disconnectStatusCode, disconnectReason } = event.requestContext;
  const userId = userIdOf(event) ?? (await findConnectionOwner(config.tableName, connectionId));
  if (userId !== undefined) {
    // The connection row first: from then on no delivery to the user posts to it.
    await deleteConnection(config.tableName, userId, connectionId);
    await endConnection(topicPorts, { userId, connectionId });
  }
  logger.info('Disconnected', { connectionId, status: disconnectStatusCode, reason: disconnectReason });
  if (userId !== undefined) {
    await events.emit([
      {
        event: 'disconnected',
        user: userId,
        connectionId,
        ...(typeof disconnectStatusCode === 'number' ? { closeCode: disconnectStatusCode } : {}),
        ...(disconnectReason ? { reason: disconnectReason } : {}),
        ts: Date.now(),
      },
    ]);
  }
  return { statusCode: 200 };
}
