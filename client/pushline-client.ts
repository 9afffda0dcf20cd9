import type {
  BacklogFrame,
  ClientFrame,
  ErrorFrame,
  HistoryFrame,
  MessageFrame,
  PresenceFrame,
  ReadFrame,
  SubscribedFrame,
  UnreadFrame,
  UnsubscribedFrame,
} from '../functions/shared/protocol.ts';
import { DEFAULT_SOURCE, MAX_ACK_IDS, MAX_CLIENT_FRAME_BYTES } from '../functions/shared/protocol.ts';
import { SERVICE_NAME_PATTERN, topicNameProblem } from '../functions/shared/topics.ts';
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
  /**
   * Position in publish order; present on stored messages only. Of the user's inbox for user
   * messages, of the topic's own sequence for topic messages, of the broadcast sequence for broadcasts.
   */
  readonly seq?: string;
  readonly type: string;
  readonly source?: string;
  /** Who sent it: the sending user of a client `send` (checked by the server), or what a service named. */
  readonly from?: string;
  readonly data: unknown;
  /** Publish time, epoch milliseconds. */
  readonly ts: number;
  /**
   * True when the server says the user already read it (stored messages replayed on resume), and on
   * the copy of a message this user sent (it never counts as unread).
   */
  readonly read: boolean;
  /** True when it came from the stored backlog on (re)connect rather than as a live push. */
  readonly replayed: boolean;
  /** The topic it was published to (the client is subscribed to it); absent on user messages. */
  readonly topic?: string;
  /** True on broadcasts (published to every user); absent on user and topic messages. */
  readonly broadcast?: true;
}

/** The application's view of a message frame. */
function toMessage(frame: MessageFrame, replayed: boolean): PushlineMessage {
  return {
    id: frame.id,
    ...(frame.seq !== undefined && { seq: frame.seq }),
    type: frame.type,
    ...(frame.source !== undefined && { source: frame.source }),
    ...(typeof frame.from === 'string' && { from: frame.from }),
    data: frame.data,
    ts: frame.ts,
    read: frame.read === true,
    replayed,
    ...(typeof frame.topic === 'string' && { topic: frame.topic }),
    ...(frame.broadcast === true && { broadcast: true as const }),
  };
}

/** What the user mutes: those messages are kept (history shows them, read) but never pushed. */
export interface UserPreferences {
  readonly muted: { readonly types: readonly string[]; readonly sources: readonly string[] };
  /** Types the deployment never mutes. */
  readonly mandatory: readonly string[];
  /** When they last changed, epoch ms (0: never set). */
  readonly version: number;
}

/** A change to the preferences: what to start and stop muting. */
export interface PreferencesUpdate {
  readonly mute?: { readonly types?: readonly string[]; readonly sources?: readonly string[] };
  readonly unmute?: { readonly types?: readonly string[]; readonly sources?: readonly string[] };
}

/** A message to `send()`. */
export interface OutgoingMessage {
  /**
   * Another user, a topic the token lets this user subscribe to, or a backend service the deployment
   * names (`{ service: 'robot' }`: it answers by publishing to this user).
   */
  readonly to: { readonly user: string } | { readonly topic: string } | { readonly service: string };
  /** Your message type, e.g. `chat.text` (1 to 128 characters). */
  readonly type: string;
  /**
   * Any JSON value (`null` for none). The `send` frame must fit API Gateway's 32 KB client frame
   * (checked before sending: `INVALID_SEND`), and the posted message 128 KB.
   */
  readonly data: unknown;
  /**
   * Your id for it, the idempotency key: 1 to 64 letters, digits and `. _ : -`. Generated when
   * absent; give your own to make a send that survives a reload safe to repeat.
   */
  readonly id?: string;
}

/** What the server answered a `send()`. */
export interface SentReceipt {
  /** The send's id. */
  readonly id: string;
  /** The id the message carries at its recipients (and in this user's own `message` events). */
  readonly messageId: string;
}

interface PendingSend {
  readonly frame: ClientFrame;
  readonly waiter: Waiter<SentReceipt>;
  readonly answer: Promise<SentReceipt>;
  /** The connection it was last sent on: it is sent again on a newer one. */
  sentOn: Link | undefined;
}

/** The reason the server would refuse these `send()` fields, or undefined. */
function sendProblem(message: OutgoingMessage, id: string): string | undefined {
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(id)) return 'id must be 1 to 64 letters, digits and . _ : -';
  if (typeof message.type !== 'string' || message.type.length < 1 || message.type.length > 128)
    return 'type must be 1 to 128 characters';
  if (message.data === undefined) return 'data is required (use null for no payload)';
  const to = message.to as { user?: unknown; topic?: unknown; service?: unknown } | undefined;
  const keys = to === undefined || to === null ? [] : Object.keys(to);
  const one =
    typeof to?.user === 'string' || typeof to?.topic === 'string' || typeof to?.service === 'string';
  if (keys.length !== 1 || !one) return 'to must be { user: id }, { topic: name } or { service: name }';
  if (typeof to.service === 'string' && !SERVICE_NAME_PATTERN.test(to.service))
    return 'to.service must be 1 to 64 letters, digits and . _ -';
  if (typeof to.user === 'string' && (to.user.length < 1 || to.user.length > 256))
    return 'to.user must be 1 to 256 characters';
  if (typeof to.topic === 'string') {
    const problem = topicNameProblem(to.topic);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * The reason API Gateway would not take this frame from a client, or undefined: data that is not
 * JSON, or a frame over 32 KB (AWS closes the socket with 1009, and a reconnect would send it again).
 */
function frameSizeProblem(frame: ClientFrame): string | undefined {
  let text: string;
  try {
    text = JSON.stringify(frame);
  } catch (error) {
    return `data must be JSON: ${(error as Error).message}`;
  }
  const bytes = new TextEncoder().encode(text).length;
  if (bytes <= MAX_CLIENT_FRAME_BYTES) return undefined;
  return `the send frame is ${bytes} bytes; API Gateway takes at most ${MAX_CLIENT_FRAME_BYTES} bytes (32 KB) in one client frame: send less data, or publish large messages from a service`;
}

function copyNames(names: { readonly types?: readonly string[]; readonly sources?: readonly string[] }) {
  return {
    ...(names.types !== undefined && { types: [...names.types] }),
    ...(names.sources !== undefined && { sources: [...names.sources] }),
  };
}

/** A random id for a send: 32 hex digits (`getRandomValues` works on plain-http pages too). */
function randomId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Whether a message belongs to the user's inbox (not to a topic, not a broadcast). */
function isUserMessage(frame: MessageFrame): boolean {
  return typeof frame.topic !== 'string' && frame.broadcast !== true;
}

/** A topic subscription the server confirmed. */
export interface TopicSubscription {
  readonly topic: string;
  /** A presence topic: `presence` events follow as users join and leave it. */
  readonly presence: boolean;
}

/** A user's first connection joined a presence topic, or their last one left it. */
export interface PresenceEvent {
  readonly topic: string;
  readonly user: string;
  readonly state: 'join' | 'leave';
  /** When it happened, epoch milliseconds. */
  readonly ts: number;
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
  /**
   * The server no longer keeps history back to `after`: messages in between may be lost. With
   * `topic`, of that topic's replay; with `broadcast`, of the broadcasts' replay; else of the inbox.
   */
  gap: { after: string | undefined; topic?: string; broadcast?: true };
  /** The topics subscribed changed (see {@link PushlineClient.topics}): subscribed, left, or refused. */
  topics: readonly string[];
  /** On a presence topic the client is subscribed to: a user joined or left. */
  presence: PresenceEvent;
  /**
   * The server closed the connection on a service's order (logout, ban). The client is `closed`
   * and does not reconnect; `connect()` would start again.
   */
  disconnected: { reason: string | undefined };
  /** The user's preferences, when asked for and whenever they change (on any device, or by a service). */
  prefs: UserPreferences;
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
  /**
   * A `send()` the server has not accepted within this time (queued while offline included) rejects
   * with `SEND_TIMEOUT`; sending again with the same id is safe. @default 30000
   */
  readonly sendTimeoutMs?: number;
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
  /**
   * Topics to subscribe to from the start, e.g. {@link PushlineClient.topics} of an earlier run. They
   * are listed in `topics` at once; one the server refuses is dropped with an `error` event.
   */
  readonly topics?: Iterable<string>;
  /**
   * The last seq seen per topic ({@link PushlineClient.topicCursors} of an earlier run): subscribing
   * to such a topic asks the server to replay what was published after it.
   */
  readonly topicCursors?: Readonly<Record<string, string>>;
  /** The last broadcast seq seen ({@link PushlineClient.broadcastCursor} of an earlier run). */
  readonly broadcastCursor?: string;
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

/**
 * A topic on one connection. Replaying: the subscribe asked for what came after a cursor and the
 * last backlog page has not come yet; live messages meanwhile must not move the topic's cursor
 * (the replay may still bring older ones), so the highest of their seqs waits in `liveMax`.
 */
interface LinkTopic {
  state: 'pending' | 'subscribed' | 'unsubscribing';
  replay: 'none' | 'replaying' | 'holed';
  after: string | undefined;
  liveMax: string | undefined;
}

/** A topic the application subscribed to. */
interface TopicEntry {
  /** The server confirmed it (on some connection), or it was restored from an earlier run. */
  confirmed: boolean;
  presence: boolean;
  waiters: Waiter<TopicSubscription>[];
}

/** One WebSocket connection and where it is in its life. */
interface Link {
  socket: SocketLike | undefined;
  /**
   * opening → resuming (resume sent) → ready (backlog complete and topics subscribed) → retired
   * (closed, ignored).
   */
  phase: 'opening' | 'resuming' | 'ready' | 'retired';
  /** The inbox backlog is complete (readiness may still wait for topic subscriptions). */
  backlogDone: boolean;
  /** Live user messages that arrived while the backlog was still coming. */
  held: MessageFrame[];
  resumeAfter: string | undefined;
  /** The topics subscribed (or being subscribed) on this connection. */
  topics: Map<string, LinkTopic>;
  /** The broadcast replay asked for in the resume, as for a topic (`LinkTopic.replay`). */
  broadcast: {
    replay: 'none' | 'replaying' | 'holed';
    after: string | undefined;
    liveMax: string | undefined;
  };
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
  #broadcastCursor: string | undefined;
  /** Last seq seen per topic (topic cursors), for the replay on re-subscription. */
  readonly #topicCursors = new Map<string, string>();
  /** The topics the application wants, in the order subscribed. */
  readonly #topics = new Map<string, TopicEntry>();
  readonly #unsubscribeWaiters = new Map<string, Waiter<void>[]>();
  /** Ids of topic messages and broadcasts: acks of them would do nothing, so none is sent. */
  readonly #notAckable: RecentIds;
  /** Presence frames already emitted (both connections of a rollover receive them). */
  readonly #presenceSeen = new RecentIds(1000);
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
  /** Sends not yet accepted, by id, in the order made; each is (re)sent on every connection until answered. */
  readonly #sends = new Map<string, PendingSend>();
  readonly #sendTimeoutMs: number;
  /** The newest preferences the server sent. */
  #prefs: UserPreferences | undefined;
  /** Callers of `getPrefs()` / `setPrefs()` waiting for the next `prefs` frame (or its refusal). */
  #prefsWaiters: Waiter<UserPreferences>[] = [];
  /** Callers of `registerPush()` / `unregisterPush()` waiting for their answer, per action, in order. */
  readonly #pushWaiters = {
    register: [] as Waiter<PushRegistration>[],
    unregister: [] as Waiter<undefined>[],
  };
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
    this.#sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
    this.#reconnect = { ...DEFAULT_RECONNECT, ...options.reconnect };
    this.#rolloverAfterMs = options.rolloverAfterMs ?? DEFAULT_ROLLOVER_AFTER_MS;
    this.#resumeLimit = options.resumeLimit;
    this.#seen = new RecentIds(options.dedupeCapacity ?? 5000);
    this.#notAckable = new RecentIds(options.dedupeCapacity ?? 5000);
    this.#cursor = options.cursor;
    this.#broadcastCursor = options.broadcastCursor;
    for (const id of options.seenIds ?? []) this.#seen.add(id);
    for (const [topic, seq] of Object.entries(options.topicCursors ?? {})) {
      if (topicNameProblem(topic) === undefined && typeof seq === 'string')
        this.#topicCursors.set(topic, seq);
    }
    for (const topic of options.topics ?? []) {
      checkTopic(topic);
      this.#topics.set(topic, { confirmed: true, presence: false, waiters: [] });
    }
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

  /**
   * The last seq seen of each subscribed topic: persist it with {@link PushlineClient.topics} and
   * pass both back (`topicCursors`, `topics`) so that a restart replays what was published meanwhile.
   */
  get topicCursors(): Record<string, string> {
    return Object.fromEntries(this.#topicCursors);
  }

  /** The last broadcast seq seen: persist it and pass it back as `broadcastCursor` on a restart. */
  get broadcastCursor(): string | undefined {
    return this.#broadcastCursor;
  }

  /**
   * The topics subscribed: confirmed by the server (or restored with the `topics` option), in the
   * order subscribed. A subscription still waiting for its answer is not listed yet.
   */
  get topics(): string[] {
    return [...this.#topics].filter(([, entry]) => entry.confirmed).map(([topic]) => topic);
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

  /**
   * Closes every connection and stops reconnecting; `connect()` may start again later (with the
   * subscriptions the server confirmed; waiting `subscribe()` calls reject with `CLOSED`).
   */
  close(): void {
    this.#shutdown(() => new PushlineError('CLOSED', 'The client was closed.'));
  }

  /**
   * Subscribes to a topic: its messages come as `message` events with `topic` set, from now on and
   * after every reconnect (the client subscribes again by itself, asking the server to replay what
   * it missed). Resolves when the server confirms; rejects with `FORBIDDEN` when the token does not
   * grant the topic (the connection stays open), or another server code. Throws `INVALID_TOPIC` for
   * a name the server would refuse, sending nothing. While not connected, it is sent on connecting.
   */
  subscribe(topic: string): Promise<TopicSubscription> {
    checkTopic(topic);
    let entry = this.#topics.get(topic);
    const current = this.#current;
    if (entry?.confirmed && current?.phase === 'ready' && current.topics.get(topic)?.state === 'subscribed') {
      return Promise.resolve({ topic, presence: entry.presence });
    }
    if (!entry) {
      entry = { confirmed: false, presence: false, waiters: [] };
      this.#topics.set(topic, entry);
    }
    const waiting = entry.waiters;
    const answer = new Promise<TopicSubscription>((resolve, reject) => waiting.push({ resolve, reject }));
    for (const link of [this.#current, this.#next]) {
      const state = link?.topics.get(topic)?.state;
      // Also after an unsubscribe still waiting for its answer: subscribed again, it must stay.
      if (link && state !== 'pending' && state !== 'subscribed') this.#subscribeOn(link, topic);
    }
    return answer;
  }

  /**
   * Leaves a topic: its messages stop, and its cursor is forgotten. Resolves when the server confirms
   * (at once when not connected: a connection's subscriptions end with it). A `subscribe()` of the
   * same topic still waiting rejects with `CANCELLED`.
   */
  unsubscribe(topic: string): Promise<void> {
    checkTopic(topic);
    const entry = this.#topics.get(topic);
    this.#topicCursors.delete(topic);
    if (entry) {
      this.#topics.delete(topic);
      const cancelled = new PushlineError('CANCELLED', `unsubscribe("${topic}") came before the answer.`);
      for (const waiter of entry.waiters.splice(0)) waiter.reject(cancelled);
      if (entry.confirmed) this.#emitTopics();
    }
    let waiters = this.#unsubscribeWaiters.get(topic);
    if (!waiters) {
      waiters = [];
      this.#unsubscribeWaiters.set(topic, waiters);
    }
    const waiting = waiters;
    const answer = new Promise<void>((resolve, reject) => waiting.push({ resolve, reject }));
    for (const link of [this.#current, this.#next]) {
      const state = link?.topics.get(topic);
      if (!link || !state || state.state === 'unsubscribing') continue;
      if (this.#send(link, { action: 'unsubscribe', topic })) state.state = 'unsubscribing';
      else link.topics.delete(topic);
    }
    this.#settleUnsubscribe(topic);
    return answer;
  }

  /** Stops everything; waiting calls reject with the given error. */
  #shutdown(reason: () => PushlineError): void {
    if (this.#state === 'closed') {
      this.#dropUnconfirmed(reason);
      return;
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#removeOnlineListener?.();
    this.#removeOnlineListener = undefined;
    for (const link of [this.#current, this.#next]) if (link) this.#retire(link, 1000, 'client closed');
    this.#current = undefined;
    this.#next = undefined;
    this.#rejectWaiters(reason());
    for (const pending of this.#sends.values()) {
      clearTimeout(pending.waiter.timer);
      pending.waiter.reject(reason());
    }
    this.#sends.clear();
    for (const waiter of this.#prefsWaiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(reason());
    }
    for (const waiter of [
      ...this.#pushWaiters.register.splice(0),
      ...this.#pushWaiters.unregister.splice(0),
    ]) {
      clearTimeout(waiter.timer);
      waiter.reject(reason());
    }
    for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(reason());
    this.#dropUnconfirmed(reason);
    // No connection is left, so no subscription on the server either.
    for (const [topic, waiters] of this.#unsubscribeWaiters) {
      this.#unsubscribeWaiters.delete(topic);
      for (const waiter of waiters) waiter.resolve();
    }
    this.#setState('closed');
  }

  /** Subscriptions never confirmed are dropped on close, their callers told why. */
  #dropUnconfirmed(reason: () => PushlineError): void {
    for (const [topic, entry] of this.#topics) {
      if (entry.confirmed) continue;
      this.#topics.delete(topic);
      for (const waiter of entry.waiters.splice(0)) waiter.reject(reason());
    }
  }

  /**
   * Marks messages read on every device of the user. Sent at once when connected, otherwise on the
   * next connection; the server answers every device with a `read` event and the new counts.
   */
  ack(ids: string | readonly string[]): void {
    for (const id of typeof ids === 'string' ? [ids] : ids) {
      // Topic messages and broadcasts have no read state: the server would ignore their ids.
      if (typeof id === 'string' && id !== '' && !this.#notAckable.has(id)) this.#pendingAcks.add(id);
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

  /**
   * Sends a message to another user (`{ user: 'bob' }`) or to a topic (`{ topic: 'room.1' }`), from
   * this user: the server names the sender from the token. Resolves once the server accepted it
   * (stored and on its way), with the id it carries at its recipients. Made while offline, it waits
   * for the connection; after a reconnect it is sent again with the same id, which delivers once.
   * This user's devices get it too, as a `message` marked read.
   *
   * Rejects with a `PushlineServerError` whose `serverCode` is `FORBIDDEN` (the deployment or the
   * token does not allow it), `RATE_LIMITED` (too many at once: send again later, same id) or
   * `TOO_LARGE`; with `SEND_TIMEOUT` or `CLOSED`; with `INVALID_SEND` for fields the server would
   * refuse and for a frame over API Gateway's 32 KB, sending nothing.
   */
  send(message: OutgoingMessage): Promise<SentReceipt> {
    const id = message.id ?? randomId();
    const problem = sendProblem(message, id);
    if (problem !== undefined) return Promise.reject(new PushlineError('INVALID_SEND', problem));
    const existing = this.#sends.get(id);
    if (existing) return existing.answer;
    const frame: ClientFrame = { action: 'send', id, to: message.to, type: message.type, data: message.data };
    const tooBig = frameSizeProblem(frame);
    if (tooBig !== undefined) return Promise.reject(new PushlineError('INVALID_SEND', tooBig));
    let waiter!: Waiter<SentReceipt>;
    const answer = new Promise<SentReceipt>((resolve, reject) => {
      waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#sends.delete(id);
          reject(
            new PushlineError(
              'SEND_TIMEOUT',
              `send "${id}" was not accepted within ${this.#sendTimeoutMs} ms.`,
            ),
          );
        }, this.#sendTimeoutMs),
      };
    });
    const pending: PendingSend = { frame, waiter, answer, sentOn: undefined };
    this.#sends.set(id, pending);
    const link = this.#current;
    if (link?.phase === 'ready') this.#sendPending(link, pending);
    return answer;
  }

  #sendPending(link: Link, pending: PendingSend): void {
    if (pending.sentOn === link) return;
    if (this.#send(link, pending.frame)) pending.sentOn = link;
  }

  #onSent(frame: { id?: unknown; messageId?: unknown }): void {
    const id = typeof frame.id === 'string' ? frame.id : undefined;
    const pending = id === undefined ? undefined : this.#sends.get(id);
    if (!pending || id === undefined) return;
    this.#sends.delete(id);
    clearTimeout(pending.waiter.timer);
    pending.waiter.resolve({ id, messageId: typeof frame.messageId === 'string' ? frame.messageId : id });
  }

  /** A refused send: the one the server named, or the only one waiting on this connection. */
  #onSendRefused(link: Link, frame: ErrorFrame, error: PushlineServerError): boolean {
    let id = typeof frame.id === 'string' ? frame.id : undefined;
    if (id === undefined) {
      const waiting = [...this.#sends].filter(([, pending]) => pending.sentOn === link);
      if (waiting.length === 1) id = waiting[0]?.[0];
    }
    const pending = id === undefined ? undefined : this.#sends.get(id);
    if (!pending || id === undefined) return false;
    this.#sends.delete(id);
    clearTimeout(pending.waiter.timer);
    pending.waiter.reject(error);
    return true;
  }

  /** The user's preferences as the server last sent them (after `getPrefs()`, or a change). */
  get prefs(): UserPreferences | undefined {
    return this.#prefs;
  }

  /** Asks the server for the user's preferences. */
  getPrefs(): Promise<UserPreferences> {
    return this.#prefsRequest({ action: 'prefs' });
  }

  /**
   * Changes what the user mutes; resolves with the preferences after the change, which every device
   * of the user also receives as a `prefs` event. Rejects with a `PushlineServerError`
   * (`INVALID_REQUEST`) for a mandatory type or more than 200 muted.
   */
  setPrefs(change: PreferencesUpdate): Promise<UserPreferences> {
    return this.#prefsRequest({
      action: 'prefs',
      ...(change.mute !== undefined && { mute: copyNames(change.mute) }),
      ...(change.unmute !== undefined && { unmute: copyNames(change.unmute) }),
    });
  }

  #prefsRequest(frame: ClientFrame): Promise<UserPreferences> {
    const link = this.#current;
    if (link?.phase !== 'ready') {
      return Promise.reject(new PushlineError('NOT_CONNECTED', 'Preferences need an open connection.'));
    }
    return new Promise<UserPreferences>((resolve, reject) => {
      const waiter: Waiter<UserPreferences> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#prefsWaiters = this.#prefsWaiters.filter((other) => other !== waiter);
          reject(
            new PushlineError('PREFS_TIMEOUT', `No preferences answer within ${this.#connectTimeoutMs} ms.`),
          );
        }, this.#connectTimeoutMs),
      };
      this.#prefsWaiters.push(waiter);
      this.#send(link, frame);
    });
  }

  #onPrefs(frame: {
    muted?: { types?: unknown; sources?: unknown };
    mandatory?: unknown;
    version?: unknown;
  }): void {
    const names = (value: unknown) =>
      Array.isArray(value) ? value.filter((name): name is string => typeof name === 'string') : [];
    const prefs: UserPreferences = {
      muted: { types: names(frame.muted?.types), sources: names(frame.muted?.sources) },
      mandatory: names(frame.mandatory),
      version: typeof frame.version === 'number' ? frame.version : 0,
    };
    // Changes from several devices may cross: keep the newest.
    if (this.#prefs === undefined || prefs.version >= this.#prefs.version) this.#prefs = prefs;
    const waiter = this.#prefsWaiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(prefs);
    }
    this.emit('prefs', prefs);
  }

  /**
   * Registers this device's push token (from APNs or FCM) for mobile push: messages of the types
   * the deployment opts in reach the device when no connection of the user took them. Call it at
   * each app launch. Rejects with a `PushlineServerError`: `FORBIDDEN` for a platform the
   * deployment has no application for, `INVALID_REQUEST` for a bad token.
   */
  registerPush(platform: PushPlatformName, token: string): Promise<PushRegistration> {
    return this.#pushRequest('register', { action: 'register', platform, token });
  }

  /** Stops mobile push to this token (logout); resolves also when it was not registered. */
  async unregisterPush(token: string): Promise<void> {
    await this.#pushRequest('unregister', { action: 'unregister', token });
  }

  #pushRequest<A extends 'register' | 'unregister'>(
    action: A,
    frame: ClientFrame,
  ): Promise<A extends 'register' ? PushRegistration : undefined> {
    type Answer = A extends 'register' ? PushRegistration : undefined;
    const link = this.#current;
    if (link?.phase !== 'ready') {
      return Promise.reject(
        new PushlineError('NOT_CONNECTED', 'Push registration needs an open connection.'),
      );
    }
    const queue = this.#pushWaiters[action] as unknown as Waiter<Answer>[];
    return new Promise<Answer>((resolve, reject) => {
      const waiter: Waiter<Answer> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = queue.indexOf(waiter);
          if (index >= 0) queue.splice(index, 1);
          reject(
            new PushlineError('PUSH_TIMEOUT', `No ${action} answer within ${this.#connectTimeoutMs} ms.`),
          );
        }, this.#connectTimeoutMs),
      };
      queue.push(waiter);
      this.#send(link, frame);
    });
  }

  #onPushAnswer(frame: { kind?: unknown; platform?: unknown; endpoint?: unknown }): void {
    if (frame.kind === 'registered') {
      const waiter = this.#pushWaiters.register.shift();
      if (!waiter) return;
      clearTimeout(waiter.timer);
      waiter.resolve({
        platform: String(frame.platform) as PushPlatformName,
        endpoint: String(frame.endpoint),
      });
      return;
    }
    const waiter = this.#pushWaiters.unregister.shift();
    if (!waiter) return;
    clearTimeout(waiter.timer);
    waiter.resolve(undefined);
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
      backlogDone: false,
      held: [],
      resumeAfter: undefined,
      topics: new Map(),
      broadcast: { replay: 'none', after: undefined, liveMax: undefined },
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
            this.#fail(
              link,
              new PushlineError('TOKEN', `The token provider failed: ${causeText(cause)}`, { cause }),
            );
        },
      );
  }

  #attachSocket(link: Link, token: string): void {
    let socket: SocketLike;
    try {
      socket = openSocket(this.#WebSocket, this.#url, token, this.#transport);
    } catch (cause) {
      this.#fail(
        link,
        cause instanceof PushlineError
          ? cause
          : new PushlineError('CONNECT_FAILED', `Could not open a WebSocket: ${causeText(cause)}`, { cause }),
      );
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
      if (this.#broadcastCursor !== undefined) {
        resume.broadcastAfter = this.#broadcastCursor;
        link.broadcast = { replay: 'replaying', after: this.#broadcastCursor, liveMax: undefined };
      }
      this.#send(link, resume);
      // Subscriptions belong to a connection: every new one subscribes again, asking for the replay
      // of what came after the last message seen. Readiness (and a rollover's switch) waits for them.
      for (const topic of this.#topics.keys()) this.#subscribeOn(link, topic);
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
    for (const topic of link.topics.keys()) this.#settleUnsubscribe(topic);
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
      case 'message': {
        const message = frame as MessageFrame;
        if (typeof message.topic === 'string') this.#onTopicMessage(link, message);
        else if (message.broadcast === true) this.#onBroadcastMessage(link, message);
        else if (link.phase === 'ready') this.#deliver(message, false);
        else link.held.push(message);
        break;
      }
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
      case 'subscribed':
        this.#onSubscribed(link, frame as SubscribedFrame);
        break;
      case 'unsubscribed':
        this.#onUnsubscribed(link, frame as UnsubscribedFrame);
        break;
      case 'presence':
        this.#onPresence(frame as PresenceFrame);
        break;
      case 'disconnect':
        this.#onDisconnect(frame as { reason?: unknown });
        break;
      case 'sent':
        this.#onSent(frame as { id?: unknown; messageId?: unknown });
        break;
      case 'prefs':
        this.#onPrefs(frame as { muted?: { types?: unknown; sources?: unknown } });
        break;
      case 'registered':
      case 'unregistered':
        this.#onPushAnswer(frame as { kind?: unknown; platform?: unknown; endpoint?: unknown });
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
    const topic = frame.action === 'subscribe' ? this.#refusedTopic(link, frame.topic) : undefined;
    const error = new PushlineServerError(
      String(frame.code),
      String(frame.message ?? ''),
      frame.action,
      topic ?? (typeof frame.topic === 'string' ? frame.topic : undefined),
    );
    if (topic !== undefined) {
      this.#onSubscribeRefused(link, topic, error);
      return;
    }
    if (frame.action === 'send' && this.#onSendRefused(link, frame, error)) return;
    if (frame.action === 'register' || frame.action === 'unregister') {
      const waiter = this.#pushWaiters[frame.action].shift();
      if (waiter) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
        return;
      }
    }
    if (frame.action === 'prefs' && this.#prefsWaiters.length > 0) {
      const waiter = this.#prefsWaiters.shift() as Waiter<UserPreferences>;
      clearTimeout(waiter.timer);
      waiter.reject(error);
      return;
    }
    if (link.phase === 'resuming' && frame.action === 'resume' && !link.backlogDone) {
      if (frame.code === 'INTERNAL') {
        this.#fail(link, error); // Transient: retry with backoff.
        return;
      }
      // A refused cursor will be refused again: go live without the backlog, and say so.
      this.#emitError(error);
      this.emit('gap', { after: link.resumeAfter });
      link.backlogDone = true;
      this.#readyWhenComplete(link);
      return;
    }
    this.#emitError(error);
  }

  #onBacklog(link: Link, frame: BacklogFrame): void {
    if (typeof frame.topic === 'string') {
      this.#onTopicBacklog(link, frame.topic, frame);
      return;
    }
    if (frame.broadcast === true) {
      this.#onBroadcastBacklog(link, frame);
      return;
    }
    const messages = Array.isArray(frame.messages) ? frame.messages : [];
    if (link.phase !== 'resuming' || link.backlogDone) {
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
    else if (!frame.more) {
      link.backlogDone = true;
      this.#readyWhenComplete(link);
    }
  }

  /** A connection is ready once its inbox backlog is complete and its topics are subscribed. */
  #readyWhenComplete(link: Link): void {
    if (link.phase !== 'resuming' || !link.backlogDone) return;
    for (const state of link.topics.values()) if (state.state === 'pending') return;
    this.#ready(link);
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
    for (const pending of this.#sends.values()) this.#sendPending(link, pending);
    this.#setState('open');
    for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve();
  }

  /** Emits a message unless its id was delivered before; moves the inbox cursor for user messages. */
  #deliver(frame: MessageFrame, replayed: boolean): void {
    if (typeof frame?.id !== 'string') return;
    if (!this.#seen.add(frame.id)) return;
    const user = isUserMessage(frame);
    if (!user) this.#notAckable.add(frame.id);
    // Topic and broadcast seqs belong to their own sequences: they never move the inbox cursor.
    if (user && typeof frame.seq === 'string' && (this.#cursor === undefined || frame.seq > this.#cursor)) {
      this.#cursor = frame.seq;
    }
    const message = toMessage(frame, replayed);
    const read = message.read;
    this.emit('message', message);
    // The server's counts arrive on (re)connect and with read changes; a new stored message adds one.
    if (user && !replayed && !read && frame.seq !== undefined && this.#unread) {
      const source = frame.source ?? DEFAULT_SOURCE;
      this.#unread.total += 1;
      this.#unread.bySource[source] = (this.#unread.bySource[source] ?? 0) + 1;
      this.emit('unread', this.unread as UnreadCounts);
    }
  }

  // ---- topics and broadcasts ---------------------------------------------------------------------

  /** Sends `subscribe` on a connection, with the topic's cursor when one is known (for its replay). */
  #subscribeOn(link: Link, topic: string): void {
    if (link.phase !== 'resuming' && link.phase !== 'ready') return; // Opening: it subscribes on open.
    const after = this.#topicCursors.get(topic);
    if (!this.#send(link, { action: 'subscribe', topic, ...(after !== undefined && { after }) })) return;
    link.topics.set(topic, {
      state: 'pending',
      replay: after !== undefined ? 'replaying' : 'none',
      after,
      liveMax: undefined,
    });
  }

  /** The topic a refused `subscribe` was about: named by the server, or the only one waiting. */
  #refusedTopic(link: Link, named: unknown): string | undefined {
    if (typeof named === 'string') return link.topics.get(named)?.state === 'pending' ? named : undefined;
    const pending = [...link.topics].filter(([, state]) => state.state === 'pending');
    return pending.length === 1 ? pending[0]?.[0] : undefined;
  }

  #onSubscribeRefused(link: Link, topic: string, error: PushlineServerError): void {
    link.topics.delete(topic);
    const entry = this.#topics.get(topic);
    if (entry) {
      if (error.serverCode === 'INTERNAL' && entry.confirmed && link.phase === 'resuming') {
        // A transient failure to subscribe again: keep the subscription and retry with backoff.
        this.#fail(link, error);
        return;
      }
      this.#topics.delete(topic);
      this.#topicCursors.delete(topic);
      if (entry.waiters.length > 0) for (const waiter of entry.waiters.splice(0)) waiter.reject(error);
      else this.#emitError(error); // A re-subscription refused (e.g. a renewed token grants less).
      if (entry.confirmed) this.#emitTopics();
      for (const other of [this.#current, this.#next]) {
        const state = other === link ? undefined : other?.topics.get(topic);
        if (other && state && state.state !== 'unsubscribing') {
          if (this.#send(other, { action: 'unsubscribe', topic })) state.state = 'unsubscribing';
          else other.topics.delete(topic);
        }
      }
    }
    this.#readyWhenComplete(link);
  }

  #onSubscribed(link: Link, frame: SubscribedFrame): void {
    const topic = frame.topic;
    const state = typeof topic === 'string' ? link.topics.get(topic) : undefined;
    if (!state || state.state === 'unsubscribing') return;
    state.state = 'subscribed';
    const entry = this.#topics.get(topic);
    if (entry) {
      entry.presence = frame.presence === true;
      const known = entry.confirmed;
      entry.confirmed = true;
      if (!known) this.#emitTopics();
      for (const waiter of entry.waiters.splice(0)) waiter.resolve({ topic, presence: entry.presence });
    }
    this.#readyWhenComplete(link);
  }

  #onUnsubscribed(link: Link, frame: UnsubscribedFrame): void {
    if (typeof frame.topic !== 'string') return;
    if (link.topics.get(frame.topic)?.state === 'unsubscribing') link.topics.delete(frame.topic);
    this.#settleUnsubscribe(frame.topic);
  }

  /** Resolves `unsubscribe()` calls once no connection holds the topic any more. */
  #settleUnsubscribe(topic: string): void {
    const waiters = this.#unsubscribeWaiters.get(topic);
    if (!waiters) return;
    for (const link of [this.#current, this.#next]) {
      if (link && link.phase !== 'retired' && link.topics.get(topic)?.state === 'unsubscribing') return;
    }
    this.#unsubscribeWaiters.delete(topic);
    for (const waiter of waiters) waiter.resolve();
  }

  #onTopicMessage(link: Link, frame: MessageFrame): void {
    const topic = frame.topic as string;
    if (!this.#topics.has(topic)) return; // Left (or refused): its messages are not wanted any more.
    this.#deliver(frame, false);
    const state = link.topics.get(topic);
    if (typeof frame.seq !== 'string' || !state || state.state === 'unsubscribing') return;
    // While this connection's replay is coming, older messages may still be in it: wait before
    // moving the cursor past them.
    if (state.replay === 'replaying') state.liveMax = maxSeq(state.liveMax, frame.seq);
    else if (state.replay === 'none') this.#advanceTopic(topic, frame.seq);
  }

  #onTopicBacklog(link: Link, topic: string, frame: BacklogFrame): void {
    if (!this.#topics.has(topic)) return;
    const state = link.topics.get(topic);
    const replaying = state?.replay === 'replaying';
    if (replaying && frame.gap) this.emit('gap', { after: state.after, topic });
    for (const message of Array.isArray(frame.messages) ? frame.messages : []) {
      if (link.phase === 'retired' || !this.#topics.has(topic)) return; // A listener closed or left.
      // The frame names the topic; its messages are the topic's even where they do not repeat it.
      this.#deliver(message.topic === topic ? message : { ...message, topic }, true);
      if (replaying && typeof message.seq === 'string') this.#advanceTopic(topic, message.seq);
    }
    if (!replaying || link.phase === 'retired') return;
    if (typeof frame.next === 'string') {
      this.#send(link, { action: 'subscribe', topic, from: frame.next });
    } else if (!frame.more) {
      state.replay = 'none';
      if (state.liveMax !== undefined) this.#advanceTopic(topic, state.liveMax);
      state.liveMax = undefined;
    }
  }

  #advanceTopic(topic: string, seq: string): void {
    if (!this.#topics.has(topic)) return;
    const cursor = this.#topicCursors.get(topic);
    if (cursor === undefined || seq > cursor) this.#topicCursors.set(topic, seq);
  }

  #onBroadcastMessage(link: Link, frame: MessageFrame): void {
    this.#deliver(frame, false);
    if (typeof frame.seq !== 'string') return;
    const replay = link.broadcast;
    if (replay.replay === 'replaying') replay.liveMax = maxSeq(replay.liveMax, frame.seq);
    else if (replay.replay === 'none') this.#advanceBroadcast(frame.seq);
  }

  #onBroadcastBacklog(link: Link, frame: BacklogFrame): void {
    const replay = link.broadcast;
    const replaying = replay.replay === 'replaying';
    if (replaying && frame.gap) this.emit('gap', { after: replay.after, broadcast: true });
    for (const message of Array.isArray(frame.messages) ? frame.messages : []) {
      if (link.phase === 'retired') return;
      this.#deliver(message.broadcast === true ? message : { ...message, broadcast: true }, true);
      if (replaying && typeof message.seq === 'string') this.#advanceBroadcast(message.seq);
    }
    if (!replaying) return;
    if (typeof frame.next === 'string') {
      // More are left than one resume sends, and the protocol has no way to ask for the rest of
      // the broadcasts alone: the cursor stays at the last one replayed, so that the next
      // connection's resume asks again from there.
      replay.replay = 'holed';
      replay.liveMax = undefined;
    } else if (!frame.more) {
      replay.replay = 'none';
      if (replay.liveMax !== undefined) this.#advanceBroadcast(replay.liveMax);
      replay.liveMax = undefined;
    }
  }

  #advanceBroadcast(seq: string): void {
    if (this.#broadcastCursor === undefined || seq > this.#broadcastCursor) this.#broadcastCursor = seq;
  }

  #onPresence(frame: PresenceFrame): void {
    const { topic, user, state } = frame;
    if (typeof topic !== 'string' || typeof user !== 'string' || !this.#topics.has(topic)) return;
    if (state !== 'join' && state !== 'leave') return;
    const ts = Number(frame.ts) || 0;
    // During a rollover both connections receive the same frame.
    if (!this.#presenceSeen.add(JSON.stringify([topic, user, state, ts]))) return;
    this.emit('presence', { topic, user, state, ts });
  }

  /** The server closes the connection on a service's order: stop, and do not come back. */
  #onDisconnect(frame: { reason?: unknown }): void {
    const reason = typeof frame.reason === 'string' ? frame.reason : undefined;
    const text = `The server closed the connection${reason !== undefined ? ` (${reason})` : ''}.`;
    this.#shutdown(() => new PushlineError('DISCONNECTED', text));
    this.emit('disconnected', { reason });
  }

  #emitTopics(): void {
    this.emit('topics', this.topics);
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

/** Throws `INVALID_TOPIC` for a name the server would refuse. */
function checkTopic(topic: unknown): asserts topic is string {
  const problem = topicNameProblem(topic);
  if (problem !== undefined) throw new PushlineError('INVALID_TOPIC', `Invalid topic: ${problem}.`);
}

/** The higher of two seqs (they sort as strings). */
function maxSeq(a: string | undefined, b: string): string {
  return a === undefined || b > a ? b : a;
}

/** Stored messages in seq order; messages without a seq keep their arrival order, after them. */
function bySeq(a: MessageFrame, b: MessageFrame): number {
  if (a.seq === undefined || b.seq === undefined)
    return (a.seq === undefined ? 1 : 0) - (b.seq === undefined ? 1 : 0);
  return a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0;
}

/** A push platform a device registers with: `APNS`, `APNS_SANDBOX` (development builds) or `GCM` (FCM). */
export type PushPlatformName = 'APNS' | 'APNS_SANDBOX' | 'GCM';

/** The answer to {@link PushlineClient.registerPush}. */
export interface PushRegistration {
  readonly platform: PushPlatformName;
  /** The SNS platform endpoint of the token. */
  readonly endpoint: string;
}

/** What a thrown value says, for an error message that carries its cause (also kept as `cause`). */
function causeText(cause: unknown): string {
  if (cause instanceof Error) return cause.message === '' ? cause.name : cause.message;
  return String(cause);
}
