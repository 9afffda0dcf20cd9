import type {
  BacklogFrame,
  ClientFrame,
  ErrorFrame,
  HistoryFrame,
  MessageFrame,
  ReadFrame,
  UnreadFrame,
} from '../functions/shared/protocol.ts';
import { DEFAULT_SOURCE, MAX_ACK_IDS } from '../functions/shared/protocol.ts';
import { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.ts';
import { TypedEmitter } from './emitter.ts';
import { PushlineError, PushlineServerError } from './errors.ts';
import { RecentIds } from './recent-ids.ts';
import {
  discardSocket,
  OPEN,
  openSocket,
  resolveWebSocket,
  type SocketLike,
  type TokenTransport,
  type WebSocketConstructor,
} from './socket.ts';

/** Connection state as the application sees it. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Unread counts: total and per source (messages without a source count under `default`). */
export interface UnreadCounts {
  total: number;
  bySource: Record<string, number>;
}

/** A message as the application receives it: each id once, however often the server sent it. */
export interface PushlineMessage {
  /** Unique per message (the publisher's idempotency key, or generated). */
  readonly id: string;
  /** Per-user position in publish order; present on stored messages only. */
  readonly seq?: string;
  readonly type: string;
  readonly source?: string;
  readonly data: unknown;
  /** Publish time, epoch milliseconds. */
  readonly ts: number;
  /** True when the server says the user already read it (stored messages replayed on resume). */
  readonly read: boolean;
  /** True when it came from the stored backlog on (re)connect rather than as a live push. */
  readonly replayed: boolean;
}

/** The application's view of a message frame. */
function toMessage(frame: MessageFrame, replayed: boolean): PushlineMessage {
  return {
    id: frame.id,
    ...(frame.seq !== undefined && { seq: frame.seq }),
    type: frame.type,
    ...(frame.source !== undefined && { source: frame.source }),
    data: frame.data,
    ts: frame.ts,
    read: frame.read === true,
    replayed,
  };
}

/** A page of older messages from {@link PushlineClient.history}. */
export interface HistoryPage {
  /** Newest first. */
  readonly messages: readonly PushlineMessage[];
  /** Older messages may be left: call again with `before` = the last message's `seq`. */
  readonly more: boolean;
}

/** Events of {@link PushlineClient} and their payloads. */
export interface PushlineEvents {
  /** A message, never the same id twice (within the last `dedupeCapacity` ids). */
  message: PushlineMessage;
  /** Unread counts changed: from the server on (re)connect and on read changes, or +1 for a new message. */
  unread: UnreadCounts;
  /** Messages were read on some device of the user (this one included). */
  read: { ids: string[]; unread: UnreadCounts };
  /** The connection state changed. */
  state: ConnectionState;
  /** The server no longer keeps history back to `after`: messages in between may be lost. */
  gap: { after: string | undefined };
  /** Something failed; the client recovers on its own (reconnects) where it can. */
  error: PushlineError;
}

/** Options of {@link PushlineClient}. */
export interface PushlineClientOptions {
  /** The stage URL, e.g. `wss://abc.execute-api.eu-west-1.amazonaws.com/prod`. */
  readonly url: string;
  /** Returns a fresh token; called for every connection, so expiring tokens are simply renewed. */
  readonly token: () => string | Promise<string>;
  /** `query` sends `?token=`, `protocol` sends it in `Sec-WebSocket-Protocol`. @default 'query' */
  readonly tokenTransport?: TokenTransport;
  /** WebSocket class; required on Node 20 (`import { WebSocket } from 'ws'`). @default globalThis.WebSocket */
  readonly WebSocket?: WebSocketConstructor;
  /** Ping after this long without any frame from the server (API Gateway drops sockets idle 10 min). @default 120000 */
  readonly heartbeatMs?: number;
  /** A socket that answers nothing this long after a ping is dead and is replaced. @default 10000 */
  readonly heartbeatTimeoutMs?: number;
  /** A connection must open and finish its resume within this time, or it is abandoned. @default 20000 */
  readonly connectTimeoutMs?: number;
  /** Backoff between reconnect attempts (exponential, full jitter). */
  readonly reconnect?: ReconnectOptions;
  /** Planned reconnect this long after a connection opened, before API Gateway's 2-hour cut; 0 disables. @default 6900000 */
  readonly rolloverAfterMs?: number;
  /** Seq of the last message the application has (e.g. persisted); resume continues after it. */
  readonly cursor?: string;
  /**
   * Ids already delivered (from {@link PushlineClient.recentIds} of an earlier run), so that the
   * server's replay of the minute before `cursor` brings no repeats after a restart.
   */
  readonly seenIds?: Iterable<string>;
  /** Messages to fetch when resuming without a cursor (the server caps it). @default the server's (50) */
  readonly resumeLimit?: number;
  /** How many recent message ids are remembered to drop duplicates. @default 5000 */
  readonly dedupeCapacity?: number;
}

/** Planned reconnect default: 5 minutes before API Gateway's 2-hour maximum connection time. */
export const DEFAULT_ROLLOVER_AFTER_MS = 2 * 60 * 60 * 1000 - 5 * 60 * 1000;

/** Counter key the server uses for messages published without a `source`. */
export { DEFAULT_SOURCE };

/** Most repeats of one "mark all as read" (each marks up to 500 messages on the server). */
const ACK_ALL_ROUNDS = 20;
/** Largest delay `setTimeout` honours (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

type Timer = ReturnType<typeof setTimeout>;

/** One WebSocket connection and where it is in its life. */
interface Link {
  socket: SocketLike | undefined;
  /** opening → resuming (resume sent) → ready (backlog complete) → retired (closed, ignored). */
  phase: 'opening' | 'resuming' | 'ready' | 'retired';
  /** Live messages that arrived while the backlog was still coming. */
  held: MessageFrame[];
  resumeAfter: string | undefined;
  readyAt: number;
  lastFrameAt: number;
  connectTimer?: Timer;
  heartbeatTimer?: Timer;
  pongTimer?: Timer;
  rolloverTimer?: Timer;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: PushlineError) => void;
  timer?: Timer;
}

/**
 * Client of the Pushline protocol v1: connects with a fresh token, resumes after the last message it
 * delivered, drops duplicates, keeps the socket alive and replaces it before API Gateway cuts it.
 *
 * ```ts
 * const client = new PushlineClient({ url, token: () => fetchToken() });
 * client.on('message', (m) => show(m));
 * await client.connect();
 * ```
 */
export class PushlineClient extends TypedEmitter<PushlineEvents> {
  readonly #url: string;
  readonly #token: () => string | Promise<string>;
  readonly #transport: TokenTransport;
  readonly #WebSocket: WebSocketConstructor;
  readonly #heartbeatMs: number;
  readonly #heartbeatTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #reconnect: Required<ReconnectOptions>;
  readonly #rolloverAfterMs: number;
  readonly #resumeLimit: number | undefined;
  readonly #seen: RecentIds;

  #state: ConnectionState = 'closed';
  #cursor: string | undefined;
  #unread: UnreadCounts | undefined;
  /** Version of the server counts `#unread` was last set from. */
  #unreadVersion: number | undefined;
  /** The connection delivering messages (ready), if any. */
  #current: Link | undefined;
  /** A connection being set up: the first one, a reconnect, or a rollover's replacement. */
  #next: Link | undefined;
  #attempt = 0;
  #retryTimer: Timer | undefined;
  #everOpen = false;
  #pendingAcks = new Set<string>();
  /** The last "mark all as read" sent, so that a `more` answer repeats it. */
  #ackAllSent: { source?: string; rounds: number } | undefined;
  /** A "mark all as read" not sent yet (or to be repeated while the server says more are left). */
  #pendingAckAll: { source?: string; rounds: number } | undefined;
  #pingCounter = 0;
  readonly #pings = new Map<string, Waiter<number>>();
  readonly #histories = new Map<string, Waiter<HistoryPage>>();
  #connectWaiters: Waiter<void>[] = [];
  #removeOnlineListener: (() => void) | undefined;

  /** Creates a client; nothing connects until {@link PushlineClient.connect}. */
  constructor(options: PushlineClientOptions) {
    super();
    this.#url = options.url;
    this.#token = options.token;
    this.#transport = options.tokenTransport ?? 'query';
    this.#WebSocket = resolveWebSocket(options.WebSocket);
    this.#heartbeatMs = options.heartbeatMs ?? 120_000;
    this.#heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 20_000;
    this.#reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.#rolloverAfterMs = options.rolloverAfterMs ?? DEFAULT_ROLLOVER_AFTER_MS;
    this.#resumeLimit = options.resumeLimit;
    this.#seen = new RecentIds(options.dedupeCapacity ?? 5000);
    this.#cursor = options.cursor;
    for (const id of options.seenIds ?? []) this.#seen.add(id);
  }

  /** The connection state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /**
   * Seq of the newest stored message delivered so far: persist it, and pass it back as `cursor`
   * on the next start, to receive only what came after. The server also replays the minute before
   * it (messages may be stored slightly out of seq order); the client drops those repeats, across a
   * restart too when given `seenIds`.
   */
  get cursor(): string | undefined {
    return this.#cursor;
  }

  /**
   * The ids of the `max` most recently delivered messages, oldest first: persist them with
   * {@link PushlineClient.cursor} and pass both back (`cursor`, `seenIds`) for a restart without repeats.
   */
  recentIds(max = 1000): string[] {
    return this.#seen.newest(max);
  }

  /** The latest unread counts, or undefined before the first connection answered. */
  get unread(): UnreadCounts | undefined {
    return this.#unread && { total: this.#unread.total, bySource: { ...this.#unread.bySource } };
  }

  /**
   * Connects (and keeps reconnecting until {@link PushlineClient.close}). Resolves once a connection
   * is open and its backlog delivered; rejects with code `CLOSED` if `close()` comes first.
   */
  connect(): Promise<void> {
    if (this.#state === 'open') return Promise.resolve();
    const ready = new Promise<void>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    // Callers that do not await must not get an unhandled rejection when they close early.
    ready.catch(() => {});
    if (this.#state === 'closed') {
      this.#setState('connecting');
      this.#watchOnline();
      this.#openLink();
    }
    return ready;
  }

  /** Closes every connection and stops reconnecting; `connect()` may start again later. */
  close(): void {
    if (this.#state === 'closed') return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#removeOnlineListener?.();
    this.#removeOnlineListener = undefined;
    for (const link of [this.#current, this.#next]) if (link) this.#retire(link, 1000, 'client closed');
    this.#current = undefined;
    this.#next = undefined;
    const closed = () => new PushlineError('CLOSED', 'The client was closed.');
    this.#rejectWaiters(closed());
    for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(closed());
    this.#setState('closed');
  }

  /**
   * Marks messages read on every device of the user. Sent at once when connected, otherwise on the
   * next connection; the server answers every device with a `read` event and the new counts.
   */
  ack(ids: string | readonly string[]): void {
    for (const id of typeof ids === 'string' ? [ids] : ids) {
      if (typeof id === 'string' && id !== '') this.#pendingAcks.add(id);
    }
    const link = this.#current;
    if (link?.phase === 'ready') this.#flushAcks(link);
  }

  /**
   * Marks every unread message of the user read (of one source, when given), including messages this
   * client never loaded. Repeated while the server answers that more are left (at most 20 rounds of
   * 500); every device gets `read` events as with `ack`.
   */
  ackAll(options: { source?: string } = {}): void {
    this.#pendingAckAll = { ...(options.source !== undefined ? { source: options.source } : {}), rounds: 0 };
    const link = this.#current;
    if (link?.phase === 'ready') this.#flushAcks(link);
  }

  /**
   * Older stored messages, newest first: the page before `before` (a `seq`; the newest when absent),
   * of one source when given. `more` says whether to ask again with the last message's `seq`. These
   * messages are returned, not emitted as `message` events, and do not move the cursor.
   */
  history(options: { before?: string; source?: string; limit?: number } = {}): Promise<HistoryPage> {
    const link = this.#current;
    if (link?.phase !== 'ready') {
      return Promise.reject(new PushlineError('NOT_CONNECTED', 'history() needs an open connection.'));
    }
    const id = `history-${++this.#pingCounter}`;
    return new Promise<HistoryPage>((resolve, reject) => {
      this.#histories.set(id, {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#histories.delete(id);
          reject(
            new PushlineError('HISTORY_TIMEOUT', `No history answer within ${this.#connectTimeoutMs} ms.`),
          );
        }, this.#connectTimeoutMs),
      });
      this.#send(link, { action: 'history', id, ...options });
    });
  }

  /** Round trip to the server; resolves with the time it took in milliseconds. */
  ping(): Promise<number> {
    const link = this.#current;
    if (link?.phase !== 'ready') {
      return Promise.reject(new PushlineError('NOT_CONNECTED', 'ping() needs an open connection.'));
    }
    const id = `ping-${++this.#pingCounter}`;
    const started = Date.now();
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter<number> = {
        resolve: () => resolve(Date.now() - started),
        reject,
        timer: setTimeout(() => {
          this.#pings.delete(id);
          reject(new PushlineError('PING_TIMEOUT', `No pong within ${this.#heartbeatTimeoutMs} ms.`));
        }, this.#heartbeatTimeoutMs),
      };
      this.#pings.set(id, waiter);
      this.#send(link, { action: 'ping', id });
    });
  }

  protected override listenerFailed(event: keyof PushlineEvents, error: unknown): void {
    // An error listener that throws would loop; leave that one to the host like an uncaught error.
    if (event === 'error') super.listenerFailed(event, error);
    else this.emit('error', new PushlineError('LISTENER', `A '${event}' listener threw.`, { cause: error }));
  }

  // ---- connections -------------------------------------------------------------------------------

  /** Starts a new connection as `#next`; it becomes `#current` once its backlog is complete. */
  #openLink(): void {
    const link: Link = {
      socket: undefined,
      phase: 'opening',
      held: [],
      resumeAfter: undefined,
      readyAt: 0,
      lastFrameAt: 0,
    };
    this.#next = link;
    link.connectTimer = setTimeout(
      () =>
        this.#fail(
          link,
          new PushlineError('CONNECT_TIMEOUT', `Not connected within ${this.#connectTimeoutMs} ms.`),
        ),
      this.#connectTimeoutMs,
    );
    // The token provider may be async; a close() or timeout meanwhile retires the link.
    Promise.resolve()
      .then(() => this.#token())
      .then(
        (token) => {
          if (link.phase === 'retired') return;
          if (typeof token !== 'string' || token === '') {
            this.#fail(link, new PushlineError('TOKEN', 'The token provider returned no token.'));
            return;
          }
          this.#attachSocket(link, token);
        },
        (cause: unknown) => {
          if (link.phase !== 'retired')
            this.#fail(link, new PushlineError('TOKEN', 'The token provider failed.', { cause }));
        },
      );
  }

  #attachSocket(link: Link, token: string): void {
    let socket: SocketLike;
    try {
      socket = openSocket(this.#WebSocket, this.#url, token, this.#transport);
    } catch (cause) {
      this.#fail(link, new PushlineError('CONNECT_FAILED', 'Could not open a WebSocket.', { cause }));
      return;
    }
    link.socket = socket;
    socket.onerror = () => {}; // Details come with the close event (browsers give none here).
    socket.onopen = () => {
      if (link.phase !== 'opening') return;
      link.phase = 'resuming';
      link.lastFrameAt = Date.now();
      link.resumeAfter = this.#cursor;
      const resume: ClientFrame = { action: 'resume' };
      if (link.resumeAfter !== undefined) resume.after = link.resumeAfter;
      else if (this.#resumeLimit !== undefined) resume.limit = this.#resumeLimit;
      this.#send(link, resume);
      // API Gateway counts the 2 hours from the handshake.
      if (this.#rolloverAfterMs > 0) {
        link.rolloverTimer = setTimeout(
          () => this.#startRollover(link),
          Math.min(this.#rolloverAfterMs, MAX_TIMER_MS),
        );
      }
    };
    socket.onmessage = (event) => this.#onFrame(link, event.data);
    socket.onclose = (event) => {
      if (link.phase === 'retired') return;
      const code = event.code;
      if (link.phase === 'opening') {
        this.#emitError(
          new PushlineError('CONNECT_FAILED', `The connection was refused or failed (close code ${code}).`),
        );
      }
      this.#retire(link, 1000, '');
      this.#lost(link);
    };
  }

  /** A new connection for the current one; the old one keeps delivering until the new one is ready. */
  #startRollover(link: Link): void {
    if (this.#state === 'closed' || link !== this.#current || this.#next) return;
    this.#openLink();
  }

  /** Gives up a connection after an error and recovers. */
  #fail(link: Link, error: PushlineError): void {
    if (link.phase === 'retired') return;
    this.#emitError(error);
    this.#retire(link, 4000, error.code, true);
    this.#lost(link);
  }

  /** Closes a connection for good: no event of it is handled any more. */
  #retire(link: Link, code: number, reason: string, abrupt = false): void {
    if (link.phase === 'retired') return;
    link.phase = 'retired';
    for (const timer of [link.connectTimer, link.heartbeatTimer, link.pongTimer, link.rolloverTimer])
      clearTimeout(timer);
    // Held live messages are dropped on purpose: delivering them without the backlog before them
    // would move the cursor past messages not received yet. The next resume brings them again.
    link.held = [];
    if (link.socket) discardSocket(link.socket, code, reason, abrupt);
  }

  /** A connection is gone: reconnect, or carry on with the other one. */
  #lost(link: Link): void {
    if (link.readyAt > 0 && Date.now() - link.readyAt >= this.#reconnect.stableAfterMs) this.#attempt = 0;
    if (this.#state === 'closed') return;
    if (link === this.#current) {
      this.#current = undefined;
      // Their answers would have come on this connection: fail them now rather than at their timeout.
      this.#rejectWaiters(
        new PushlineError('NOT_CONNECTED', 'The connection was lost before the answer came.'),
      );
      if (this.#next) return; // A rollover is under way: its connection takes over.
      this.#setState('reconnecting');
      this.#scheduleRetry();
    } else if (link === this.#next) {
      this.#next = undefined;
      if (this.#current) {
        this.#scheduleRetry(); // A failed rollover: try again while the old connection lasts.
      } else {
        this.#setState(this.#everOpen ? 'reconnecting' : 'connecting');
        this.#scheduleRetry();
      }
    }
  }

  #scheduleRetry(): void {
    clearTimeout(this.#retryTimer);
    const delay = backoffDelay(this.#attempt++, this.#reconnect);
    this.#retryTimer = setTimeout(() => this.#retryNow(), delay);
  }

  #retryNow(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#state === 'closed' || this.#next) return;
    this.#openLink();
  }

  /** In browsers, coming back online retries at once instead of waiting out the backoff. */
  #watchOnline(): void {
    const target = globalThis as { addEventListener?: (type: string, listener: () => void) => void } & {
      removeEventListener?: (type: string, listener: () => void) => void;
    };
    if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function')
      return;
    const onOnline = () => {
      if (this.#retryTimer !== undefined) this.#retryNow();
    };
    target.addEventListener('online', onOnline);
    this.#removeOnlineListener = () => target.removeEventListener?.('online', onOnline);
  }

  // ---- frames ------------------------------------------------------------------------------------

  #onFrame(link: Link, raw: unknown): void {
    if (link.phase === 'retired') return;
    link.lastFrameAt = Date.now();
    if (link.pongTimer !== undefined) {
      // Any frame proves the socket alive, not only the pong.
      clearTimeout(link.pongTimer);
      link.pongTimer = undefined;
      this.#scheduleHeartbeat(link);
    }
    let frame: unknown;
    try {
      frame = typeof raw === 'string' ? JSON.parse(raw) : undefined;
    } catch {
      frame = undefined;
    }
    if (typeof frame !== 'object' || frame === null) {
      this.#emitError(
        new PushlineError('BAD_SERVER_FRAME', 'The server sent a frame that is not a JSON object.'),
      );
      return;
    }
    const kind = (frame as { kind?: unknown }).kind;
    if (kind === undefined) {
      this.#onGatewayError(link, frame as { message?: unknown });
      return;
    }
    switch (kind) {
      case 'message':
        if (link.phase === 'ready') this.#deliver(frame as MessageFrame, false);
        else link.held.push(frame as MessageFrame);
        break;
      case 'backlog':
        this.#onBacklog(link, frame as BacklogFrame);
        break;
      case 'unread':
        // The answer to this connection's resume: the current count, whatever came before it (a
        // version from an earlier connection may be higher, e.g. from another server's clock).
        this.#unreadVersion = undefined;
        this.#setUnread(frame as UnreadFrame);
        break;
      case 'read':
        this.#onRead(frame as ReadFrame);
        break;
      case 'pong':
        this.#onPong((frame as { id?: unknown }).id);
        break;
      case 'history':
        this.#onHistory(frame as HistoryFrame);
        break;
      case 'error':
        this.#onServerError(link, frame as ErrorFrame);
        break;
      default:
        break; // Kinds added in later minor versions are ignored.
    }
  }

  /** API Gateway's own answers (`{"message":"Internal server error",...}`) carry no `kind`. */
  #onGatewayError(link: Link, frame: { message?: unknown }): void {
    const text = typeof frame.message === 'string' ? frame.message : 'unknown';
    const error = new PushlineError('GATEWAY', `API Gateway answered: ${text}`);
    // While resuming, only `resume` was sent: its answer will never come, so start over.
    if (link.phase === 'resuming') this.#fail(link, error);
    else this.#emitError(error);
  }

  #onServerError(link: Link, frame: ErrorFrame): void {
    const error = new PushlineServerError(String(frame.code), String(frame.message ?? ''), frame.action);
    if (link.phase === 'resuming' && frame.action === 'resume') {
      if (frame.code === 'INTERNAL') {
        this.#fail(link, error); // Transient: retry with backoff.
        return;
      }
      // A refused cursor will be refused again: go live without the backlog, and say so.
      this.#emitError(error);
      this.emit('gap', { after: link.resumeAfter });
      this.#ready(link);
      return;
    }
    this.#emitError(error);
  }

  #onBacklog(link: Link, frame: BacklogFrame): void {
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    if (link.phase !== 'resuming') {
      // Not asked for on this connection: still deliver what is new (duplicates are dropped).
      for (const message of messages) this.#deliver(message, true);
      return;
    }
    if (frame.gap) this.emit('gap', { after: link.resumeAfter });
    for (const message of messages) {
      if (link.phase !== 'resuming') return; // A listener closed the client.
      this.#deliver(message, true);
    }
    if (link.phase !== 'resuming') return;
    // A long backlog comes in rounds: the server names where the next one starts.
    if (typeof frame.next === 'string') this.#send(link, { action: 'resume', from: frame.next });
    else if (!frame.more) this.#ready(link);
  }

  /** The backlog is complete: release what was held, switch over, close the previous connection. */
  #ready(link: Link): void {
    clearTimeout(link.connectTimer);
    link.phase = 'ready';
    link.readyAt = Date.now();
    const held = link.held.splice(0).sort(bySeq);
    for (const message of held) {
      if (link.phase !== 'ready') return;
      this.#deliver(message, false);
    }
    if (link.phase !== 'ready') return;
    const previous = this.#current;
    if (link === this.#next) this.#next = undefined;
    this.#current = link;
    // Only now is it safe to let the old connection go: the new one has everything after the cursor.
    if (previous && previous !== link) this.#retire(previous, 1000, 'rollover');
    this.#everOpen = true;
    this.#scheduleHeartbeat(link);
    this.#flushAcks(link);
    this.#setState('open');
    for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve();
  }

  #deliver(frame: MessageFrame, replayed: boolean): void {
    if (typeof frame?.id !== 'string') return;
    if (!this.#seen.add(frame.id)) return;
    if (typeof frame.seq === 'string' && (this.#cursor === undefined || frame.seq > this.#cursor)) {
      this.#cursor = frame.seq;
    }
    const message = toMessage(frame, replayed);
    const read = message.read;
    this.emit('message', message);
    // The server's counts arrive on (re)connect and with read changes; a new stored message adds one.
    if (!replayed && !read && frame.seq !== undefined && this.#unread) {
      const source = frame.source ?? DEFAULT_SOURCE;
      this.#unread.total += 1;
      this.#unread.bySource[source] = (this.#unread.bySource[source] ?? 0) + 1;
      this.emit('unread', this.unread as UnreadCounts);
    }
  }

  #setUnread(counts: { total: number; bySource: Record<string, number>; version?: number }): void {
    // Frames from concurrent acks can cross on the way: an older snapshot never replaces a newer one.
    if (
      counts.version !== undefined &&
      this.#unreadVersion !== undefined &&
      counts.version < this.#unreadVersion
    ) {
      return;
    }
    this.#unreadVersion = counts.version;
    this.#unread = { total: Number(counts.total) || 0, bySource: { ...counts.bySource } };
    this.emit('unread', this.unread as UnreadCounts);
  }

  #onRead(frame: ReadFrame): void {
    const ids = Array.isArray(frame.ids) ? frame.ids : [];
    if (frame.more === true && this.#ackAllSent !== undefined) {
      this.#pendingAckAll = this.#ackAllSent;
      this.#ackAllSent = undefined;
      const link = this.#current;
      if (link?.phase === 'ready') this.#flushAcks(link);
    }
    this.emit('read', { ids, unread: { total: frame.unread.total, bySource: { ...frame.unread.bySource } } });
    this.#setUnread(frame.unread);
  }

  #onHistory(frame: HistoryFrame): void {
    const waiter = typeof frame.id === 'string' ? this.#histories.get(frame.id) : undefined;
    if (!waiter || frame.id === undefined) return;
    this.#histories.delete(frame.id);
    clearTimeout(waiter.timer);
    const messages = (Array.isArray(frame.messages) ? frame.messages : []).map((m) => toMessage(m, true));
    waiter.resolve({ messages, more: frame.more === true });
  }

  #rejectWaiters(error: PushlineError): void {
    for (const waiter of [...this.#pings.values(), ...this.#histories.values()]) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#pings.clear();
    this.#histories.clear();
  }

  #onPong(id: unknown): void {
    if (typeof id !== 'string') return;
    const waiter = this.#pings.get(id);
    if (!waiter) return;
    this.#pings.delete(id);
    clearTimeout(waiter.timer);
    waiter.resolve(0);
  }

  // ---- heartbeat, acks, sending ------------------------------------------------------------------

  /** Pings once the server has been silent for `heartbeatMs`; no answer in time means a dead socket. */
  #scheduleHeartbeat(link: Link): void {
    clearTimeout(link.heartbeatTimer);
    const wait = Math.max(0, link.lastFrameAt + this.#heartbeatMs - Date.now());
    link.heartbeatTimer = setTimeout(
      () => {
        if (link.phase !== 'ready') return;
        if (Date.now() - link.lastFrameAt < this.#heartbeatMs) {
          this.#scheduleHeartbeat(link);
          return;
        }
        link.pongTimer = setTimeout(
          () =>
            this.#fail(
              link,
              new PushlineError(
                'HEARTBEAT_TIMEOUT',
                `No answer to a heartbeat within ${this.#heartbeatTimeoutMs} ms.`,
              ),
            ),
          this.#heartbeatTimeoutMs,
        );
        this.#send(link, { action: 'ping', id: 'heartbeat' });
      },
      Math.min(wait, MAX_TIMER_MS),
    );
  }

  #flushAcks(link: Link): void {
    const all = this.#pendingAckAll;
    if (all !== undefined && all.rounds < ACK_ALL_ROUNDS) {
      const frame: ClientFrame = {
        action: 'ack',
        all: true,
        ...(all.source !== undefined ? { source: all.source } : {}),
      };
      if (this.#send(link, frame)) {
        all.rounds += 1;
        this.#ackAllSent = all;
        this.#pendingAckAll = undefined;
      }
    }
    if (this.#pendingAcks.size === 0) return;
    const ids = [...this.#pendingAcks];
    this.#pendingAcks.clear();
    for (let i = 0; i < ids.length; i += MAX_ACK_IDS) {
      if (!this.#send(link, { action: 'ack', ids: ids.slice(i, i + MAX_ACK_IDS) })) {
        // Not sent: keep them for the next connection.
        for (const id of ids.slice(i)) this.#pendingAcks.add(id);
        return;
      }
    }
  }

  #send(link: Link, frame: ClientFrame): boolean {
    const socket = link.socket;
    if (!socket || socket.readyState !== OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch {
      return false; // The close event follows and reconnects.
    }
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  #emitError(error: PushlineError): void {
    this.emit('error', error);
  }
}

/** Stored messages in seq order; messages without a seq keep their arrival order, after them. */
function bySeq(a: MessageFrame, b: MessageFrame): number {
  if (a.seq === undefined || b.seq === undefined)
    return (a.seq === undefined ? 1 : 0) - (b.seq === undefined ? 1 : 0);
  return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
}
