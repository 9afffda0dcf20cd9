import type { ErrorCode } from '../functions/shared/protocol.ts';

/** Stable codes of the errors the client reports. */
export type PushlineErrorCode =
  /** The server answered a frame with an error frame (see `PushlineServerError`). */
  | 'SERVER'
  /** The server refused a topic subscription: the token does not grant it (a `PushlineServerError`). */
  | 'FORBIDDEN'
  /** A topic name the server would refuse (see `topicNameProblem`); nothing was sent. */
  | 'INVALID_TOPIC'
  /** `send()` fields the server would refuse (see the message); nothing was sent. */
  | 'INVALID_SEND'
  /** A `send()` was not accepted within `sendTimeoutMs`; sending again with the same id is safe. */
  | 'SEND_TIMEOUT'
  /** `getPrefs()` or `setPrefs()` got no answer in time. */
  | 'PREFS_TIMEOUT'
  /** `registerPush()` or `unregisterPush()` got no answer in time. */
  | 'PUSH_TIMEOUT'
  /** `unsubscribe()` came before the server answered the `subscribe()` of the same topic. */
  | 'CANCELLED'
  /** The server closed the connection on a service's order (logout, ban); the client stopped. */
  | 'DISCONNECTED'
  /** API Gateway itself answered with an error (e.g. "Internal server error", "Forbidden"). */
  | 'GATEWAY'
  /** A connection attempt failed before it opened (refused token, network down, server away). */
  | 'CONNECT_FAILED'
  /** A connection did not open and finish its resume within `connectTimeoutMs`. */
  | 'CONNECT_TIMEOUT'
  /** The `token` provider threw or rejected. */
  | 'TOKEN'
  /** No answer to a heartbeat within `heartbeatTimeoutMs`: the socket is taken as dead. */
  | 'HEARTBEAT_TIMEOUT'
  /** A `ping()` got no pong in time. */
  | 'PING_TIMEOUT'
  /** A `history()` request got no answer in time. */
  | 'HISTORY_TIMEOUT'
  /** The server sent something that is not a protocol v1 frame. */
  | 'BAD_SERVER_FRAME'
  /** An application listener threw; the client carried on. */
  | 'LISTENER'
  /** The call needs an open connection and there is none. */
  | 'NOT_CONNECTED'
  /** The client was closed while the call was waiting. */
  | 'CLOSED'
  /** No WebSocket implementation: pass one (e.g. from `ws`) in the options. */
  | 'NO_WEBSOCKET';

/** An error of the Pushline client; branch on `code`, never on the message text. */
export class PushlineError extends Error {
  /** Why it failed; stable across versions. */
  readonly code: PushlineErrorCode;

  constructor(code: PushlineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The server answered a frame with `{ kind: 'error' }`; the connection stays open. Its `code` is
 * `FORBIDDEN` for a refused topic subscription, `SERVER` otherwise.
 */
export class PushlineServerError extends PushlineError {
  /** The server's code, e.g. `INVALID_REQUEST` (see ERROR_CODES in the protocol). */
  readonly serverCode: ErrorCode | string;
  /** The action of the frame that failed, when the server could read it. */
  readonly action: string | undefined;
  /** The topic of a refused `subscribe`, when the server named it. */
  readonly topic: string | undefined;

  constructor(serverCode: ErrorCode | string, message: string, action?: string, topic?: string) {
    super(serverCode === 'FORBIDDEN' ? 'FORBIDDEN' : 'SERVER', message);
    this.serverCode = serverCode;
    this.action = action;
    this.topic = topic;
  }
}
