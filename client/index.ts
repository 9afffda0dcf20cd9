/**
 * Pushline client SDK: one WebSocket connection to the user's messages, kept alive, resumed and
 * deduplicated. No runtime dependency; browsers, Node 22, and Node 20 with `ws`.
 */

export type { ErrorCode, MessageFrame, ServerFrame } from '../functions/shared/protocol.ts';
export { topicMatches, topicNameProblem, topicPatternProblem } from '../functions/shared/topics.ts';
export { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.ts';
export { type Listener, TypedEmitter } from './emitter.ts';
export { PushlineError, type PushlineErrorCode, PushlineServerError } from './errors.ts';
export {
  type ConnectionState,
  DEFAULT_ROLLOVER_AFTER_MS,
  DEFAULT_SOURCE,
  type HistoryPage,
  type OutgoingMessage,
  type PreferencesUpdate,
  type PresenceEvent,
  PushlineClient,
  type PushlineClientOptions,
  type PushlineEvents,
  type PushlineMessage,
  type PushPlatformName,
  type PushRegistration,
  type SentReceipt,
  type TopicSubscription,
  type UnreadCounts,
  type UserPreferences,
} from './pushline-client.ts';
export { RecentIds } from './recent-ids.ts';
export type { TokenTransport, WebSocketConstructor } from './socket.ts';

import { PushlineClient, type PushlineClientOptions } from './pushline-client.ts';

/** Creates a {@link PushlineClient} and starts connecting; `await client.connect()` to wait until open. */
export function createClient(options: PushlineClientOptions): PushlineClient {
  const client = new PushlineClient(options);
  void client.connect();
  return client;
}
