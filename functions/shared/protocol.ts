/**
 * Client protocol, version 1: the JSON frames exchanged over the WebSocket.
 * Shared by the handlers and the client SDK (types and constants only, no runtime dependency).
 */

/** Protocol version; also offered by clients as the subprotocol `pushline.v1`. */
export const PROTOCOL_VERSION = 1;

/** Source under which messages published without a `source` are counted. */
export const DEFAULT_SOURCE = 'default';

/** Most ids one `ack` frame may carry. */
export const MAX_ACK_IDS = 100;

/**
 * Largest client frame API Gateway takes, in UTF-8 bytes: a bigger single frame closes the socket
 * with 1009 even when the message would fit 128 KB, and browsers send each message as one frame.
 */
export const MAX_CLIENT_FRAME_BYTES = 32 * 1024;

/** Subprotocol name a client may offer (after its token) in `Sec-WebSocket-Protocol`. */
export const SUBPROTOCOL = 'pushline.v1';

/** Frames a client sends; API Gateway selects the route on `action`. */
export type ClientFrame =
  | { action: 'ping'; id?: string }
  | { action: 'resume'; after?: string; from?: string; limit?: number; broadcastAfter?: string }
  | { action: 'ack'; ids: string[] }
  | { action: 'ack'; all: true; source?: string }
  | { action: 'history'; id?: string; before?: string; source?: string; limit?: number }
  | { action: 'subscribe'; topic: string; after?: string; from?: string }
  | { action: 'unsubscribe'; topic: string }
  | SendFrame
  | RegisterFrame
  | UnregisterFrame
  | {
      action: 'prefs';
      /** What to start muting; without `mute` and `unmute` the frame only asks for the preferences. */
      mute?: { types?: string[]; sources?: string[] };
      unmute?: { types?: string[]; sources?: string[] };
    };

/**
 * A message from this user to another user or to a topic. `id` is the sender's idempotency key:
 * sending the same `id` again (after a lost answer) delivers once.
 */
export interface SendFrame {
  action: 'send';
  /** A user, a topic, or a backend service the deployer names (`{ service: 'robot' }`). */
  to: { user: string } | { topic: string } | { service: string };
  type: string;
  data: unknown;
  /** 1 to MAX_SEND_ID_LENGTH letters, digits and `. _ : -`. */
  id: string;
}

/**
 * What a backend service receives from its subscription to the inbound topic when a client sends
 * to it (`to: { service }`); SNS message attributes `service`, `from` and `type` carry the same, for
 * filter policies. Answer by publishing an envelope to `{ users: [from] }`.
 */
export interface ServiceMessage {
  v: 1;
  kind: 'service-message';
  /** The message id (the sender's id keyed by sender, as for user messages): repeats share it. */
  id: string;
  service: string;
  /** The sending user, from the verified token. */
  from: string;
  type: string;
  data: unknown;
  /** When the server accepted it, epoch milliseconds. */
  ts: number;
}

/**
 * Registers this device for mobile push (offline fallback): messages of the types the deployment
 * opts in reach the device through APNs or FCM when no connection of the user took them. Send it
 * at each app launch, with the token the platform gave. `platform` must be one the deployment has
 * an application for (else FORBIDDEN).
 */
export interface RegisterFrame {
  action: 'register';
  /** `APNS` (App Store and TestFlight builds), `APNS_SANDBOX` (development builds) or `GCM` (FCM). */
  platform: 'APNS' | 'APNS_SANDBOX' | 'GCM';
  /** The device token: hexadecimal for APNs, the registration token for FCM. */
  token: string;
}

/** Stops mobile push to this device token (logout). Answered `unregistered` even when it was not registered. */
export interface UnregisterFrame {
  action: 'unregister';
  token: string;
}

/** Answer to `register`. */
export interface RegisteredFrame {
  kind: 'registered';
  platform: RegisterFrame['platform'];
  /** The SNS platform endpoint of the token (the same on every registration of the same token). */
  endpoint: string;
}

/** Answer to `unregister`. */
export interface UnregisteredFrame {
  kind: 'unregistered';
}

/** Longest id a `send` frame may carry (the message id adds the sender's key to it). */
export const MAX_SEND_ID_LENGTH = 64;

/**
 * The user's preferences: the answer to `prefs`, and sent to every device of the user when they
 * change (from any device, or by a service).
 */
export interface PrefsFrame {
  kind: 'prefs';
  muted: { types: string[]; sources: string[] };
  /** Types the deployment never mutes (security alerts, say). */
  mandatory: string[];
  /** When they last changed, epoch ms (0: never set): keep the frame with the higher one. */
  version: number;
}

/** Answer to `send`: the message was accepted and will be delivered. */
export interface SentFrame {
  kind: 'sent';
  /** The `send` frame's id. */
  id: string;
  /** The id the message carries at its recipients (and in the sender's own inbox). */
  messageId: string;
}

/** A pushed message as the client receives it. */
export interface MessageFrame {
  kind: 'message';
  /** Message id: the publisher's idempotency key, or generated. Unique per message. */
  id: string;
  /** Per-user cursor that sorts in publish order (present on stored messages); resume after it. */
  seq?: string;
  type: string;
  source?: string;
  /** The sending user of a client `send` (stamped by the server), or what a service names. */
  from?: string;
  data: unknown;
  /** Publish time, epoch milliseconds. */
  ts: number;
  /** Set on backlog messages the user has already acknowledged (from any device), and on the copy of a message the user sent. */
  read?: boolean;
  /** The topic it was published to; `seq` is then that topic's cursor. */
  topic?: string;
  /** Set on broadcasts (`to: {all: true}`); `seq` is then the broadcast cursor. */
  broadcast?: true;
}

/** Answer to `ping`. */
export interface PongFrame {
  kind: 'pong';
  id?: string;
  ts: number;
}

/** Unread counts, total and per source. */
export interface UnreadFrame {
  kind: 'unread';
  total: number;
  bySource: Record<string, number>;
  /**
   * When the counts were read (epoch ms): of two frames, keep the higher version. The `unread`
   * frame that answers a resume is always the current count (accept it whatever its version).
   */
  version?: number;
}

/**
 * A page of stored messages answering `resume`. Pages are sent in order until one has `more: false`.
 * With a cursor, the first page may repeat a few messages at or just before it (up to a minute's
 * worth, so that none being stored at that moment is missed): clients drop repeats by `id`.
 */
export interface BacklogFrame {
  kind: 'backlog';
  messages: MessageFrame[];
  /** More pages follow (the server sends them until `more` is false), or see `next`. */
  more: boolean;
  /** The history no longer reaches back to the cursor the client gave: messages may be missing. */
  gap: boolean;
  /**
   * On the last page of a long backlog (one resume sends at most 1,000 messages): more are left;
   * send `{"action":"resume","from":next}` for them.
   */
  next?: string;
  /** The topic this backlog replays (answering `subscribe` with `after`/`from`). */
  topic?: string;
  /** This backlog replays broadcasts (answering `resume` with `broadcastAfter`). */
  broadcast?: true;
}

/** Answer to `subscribe`: the connection receives the topic's messages from now until it ends. */
export interface SubscribedFrame {
  kind: 'subscribed';
  topic: string;
  /** The topic is a presence topic: `presence` frames follow as users join and leave. */
  presence?: true;
}

/** Answer to `unsubscribe` (also when the connection was not subscribed). */
export interface UnsubscribedFrame {
  kind: 'unsubscribed';
  topic: string;
}

/** On a presence topic: a user's first connection subscribed, or their last one left. */
export interface PresenceFrame {
  kind: 'presence';
  topic: string;
  user: string;
  state: 'join' | 'leave';
  ts: number;
}

/**
 * The server is closing this connection on a service's request (logout, ban). The SDK does not
 * reconnect after it.
 */
export interface DisconnectFrame {
  kind: 'disconnect';
  reason?: string;
}

/** Read-state change, sent to every device of the user. */
export interface ReadFrame {
  kind: 'read';
  ids: string[];
  /** The counts after this change; `version` orders frames that cross on the way. */
  unread: { total: number; bySource: Record<string, number>; version?: number };
  /** Answering `ack` with `all: true`: more unread messages are left (send it again). */
  more?: boolean;
}

/** Answer to `history`: kept messages older than `before`, newest first. */
export interface HistoryFrame {
  kind: 'history';
  /** The request's `id`, to match answer and request. */
  id?: string;
  messages: MessageFrame[];
  /** Older messages may be left: ask again with `before` = the last message's seq. */
  more: boolean;
}

/** Stable error codes a client may branch on. */
export const ERROR_CODES = {
  badFrame: 'BAD_FRAME',
  unknownAction: 'UNKNOWN_ACTION',
  invalidRequest: 'INVALID_REQUEST',
  notImplemented: 'NOT_IMPLEMENTED',
  forbidden: 'FORBIDDEN',
  tooManyTopics: 'TOO_MANY_TOPICS',
  rateLimited: 'RATE_LIMITED',
  tooLarge: 'TOO_LARGE',
  internal: 'INTERNAL',
} as const;

/** One of the stable error codes. */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** An error answering one frame; the connection stays open. */
export interface ErrorFrame {
  kind: 'error';
  code: ErrorCode;
  message: string;
  /** The action of the frame that failed, when it could be read. */
  action?: string;
  /** The topic a refused `subscribe` or `send` named (FORBIDDEN, TOO_MANY_TOPICS). */
  topic?: string;
  /** The id of the refused `send`. */
  id?: string;
}

/** Every frame the server sends. */
export type ServerFrame =
  | MessageFrame
  | PongFrame
  | UnreadFrame
  | BacklogFrame
  | HistoryFrame
  | ReadFrame
  | SubscribedFrame
  | UnsubscribedFrame
  | PresenceFrame
  | DisconnectFrame
  | SentFrame
  | PrefsFrame
  | RegisteredFrame
  | UnregisteredFrame
  | ErrorFrame;
