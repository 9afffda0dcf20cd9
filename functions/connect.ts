import { putConnection } from './adapters/connection-store.ts';
import { createEventSink } from './adapters/event-sink.ts';
import { offeredProtocols } from './auth/token-verifier.ts';
import { optionalEnv, positiveIntEnv, requireEnv } from './lib/config.ts';
import { eventSinkReports, logger } from './lib/observability.ts';
import { userIdOf, type WebSocketEvent, type WebSocketResult } from './lib/websocket-event.ts';
import { ENV } from './shared/environment.ts';
import { SUBPROTOCOL } from './shared/protocol.ts';
import { DEFAULT_CONNECTION_TTL_SECONDS } from './shared/table-schema.ts';

const config = Object.freeze({
  tableName: requireEnv(ENV.tableName),
  ttlSeconds: positiveIntEnv(ENV.connectionTtlSeconds, DEFAULT_CONNECTION_TTL_SECONDS),
  eventsTopicArn: optionalEnv(ENV.eventsTopicArn),
});
const events = createEventSink(config.eventsTopicArn, eventSinkReports);

/**
 * `$connect`: records the connection under the user id the authorizer verified, and echoes the
 * `pushline.v1` subprotocol when the client offered it (a browser fails the handshake otherwise).
 */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  const userId = userIdOf(event);
  if (userId === undefined) {
    logger.error('Connection without an authorized user; is the authorizer attached to $connect?');
    return { statusCode: 403 };
  }
  const { connectionId, connectedAt, identity } = event.requestContext;
  const now = connectedAt ?? Date.now();
  await putConnection(config.tableName, {
    userId,
    connectionId,
    connectedAt: now,
    sourceIp: identity?.sourceIp,
    userAgent: identity?.userAgent,
    expiresAt: Math.floor(now / 1000) + config.ttlSeconds,
  });
  logger.info('Connected', { connectionId });
  await events.emit([{ event: 'connected', user: userId, connectionId, ts: now }]);
  const offered = offeredProtocols(event.headers);
  if (offered.includes(SUBPROTOCOL))
    return { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': SUBPROTOCOL } };
  return { statusCode: 200 };
}
