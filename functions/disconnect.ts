import { deleteConnection, findConnectionOwner } from './adapters/connection-store.ts';
import { requireEnv } from './lib/config.ts';
import { logger } from './lib/observability.ts';
import { userIdOf, type WebSocketEvent, type WebSocketResult } from './lib/websocket-event.ts';
import { ENV } from './shared/environment.ts';

const config = Object.freeze({ tableName: requireEnv(ENV.tableName) });

/**
 * `$disconnect` (best effort on AWS): deletes the connection row. The user id normally comes with
 * the event; without it, the byConnection index finds the row from the connection id alone.
 */
export async function handler(event: WebSocketEvent): Promise<WebSocketResult> {
  const { connectionId, disconnectStatusCode, disconnectReason } = event.requestContext;
  const userId = userIdOf(event) ?? (await findConnectionOwner(config.tableName, connectionId));
  if (userId !== undefined) await deleteConnection(config.tableName, userId, connectionId);
  logger.info('Disconnected', { connectionId, status: disconnectStatusCode, reason: disconnectReason });
  return { statusCode: 200 };
}
