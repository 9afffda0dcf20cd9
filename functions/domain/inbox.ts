import { InvalidFrameError } from '../lib/errors.ts';
import type { BacklogFrame, MessageFrame } from '../shared/protocol.ts';
import { frameBytes, MAX_FRAME_BYTES } from './message-frame.ts';
import { newSeq, seqFloor, seqTime } from './seq.ts';

/** Where a message is on its way to one user: marker claimed, message stored (and counted), pushed. */
export type DeliveryState = 'claimed' | 'stored' | 'pushed';

/** A message as kept in a user's inbox. */
export interface StoredMessage {
  readonly seq: string;
  readonly id: string;
  readonly type: string;
  readonly source?: string;
  readonly data: unknown;
  /** Publish time, epoch milliseconds. */
  readonly ts: number;
  /** Epoch seconds. */
  readonly expiresAt: number;
  /** Epoch milliseconds of the first acknowledgement. */
  readonly readAt?: number;
}

/** Unread counts of one user. */
export interface UnreadCounts {
  total: number;
  bySource: Record<string, number>;
}

/** Persistence the inbox needs; the DynamoDB adapter implements it. */
export interface InboxStore {
  /** Creates the idempotency marker, or returns the existing one's state and seq. */
  claim(
    userId: string,
    messageId: string,
    seq: string,
    expiresAt: number,
  ): Promise<{ state: DeliveryState | 'new'; seq: string }>;
  /** Moves a claimed marker to a new seq; false when its state or seq changed meanwhile. */
  reassignSeq(userId: string, messageId: string, oldSeq: string, newSeq: string): Promise<boolean>;
  putMessage(userId: string, message: StoredMessage): Promise<void>;
  deleteMessage(userId: string, seq: string): Promise<void>;
  /** Conditionally moves the marker's state; true for exactly one caller. */
  advance(userId: string, messageId: string, from: DeliveryState, to: DeliveryState): Promise<boolean>;
  addUnread(userId: string, source: string, delta: number): Promise<void>;
  unread(userId: string): Promise<UnreadCounts>;
  /** Marks a stored message read; returns its source for exactly one caller, undefined otherwise. */
  markRead(userId: string, messageId: string, readAt: number): Promise<{ source: string } | undefined>;
  /** Ascending from `fromSeq` (inclusive) when given, else descending from the newest. */
  page(
    userId: string,
    options: { fromSeq?: string; limit: number; nowSeconds: number; startKey?: Record<string, unknown> },
  ): Promise<{ messages: StoredMessage[]; nextKey?: Record<string, unknown> }>;
  /** True when the message with this seq is still kept and not expired. */
  exists(userId: string, seq: string, nowSeconds: number): Promise<boolean>;
}

/** Counter key for messages published without a `source`. */
export const DEFAULT_SOURCE = 'default';

/**
 * How far before a resume cursor the backlog starts again. A seq is taken just before its message is
 * written, so a message can appear after a later seq was already read; the delivery function's
 * timeout bounds that delay, and this window must be at least as long (clients drop the repeats).
 */
export const RESUME_LOOKBACK_MS = 60_000;

/** How long the idempotency marker of a message that is not stored is kept: one day. */
export const DEDUPE_WINDOW_SECONDS = 24 * 60 * 60;

/** Most messages in the answer to a `resume` without cursor. */
export const MAX_RECENT = 100;

/** The message as one user gets it, before storing. */
export interface IncomingMessage {
  readonly id: string;
  readonly type: string;
  readonly source?: string;
  readonly data: unknown;
  readonly ts: number;
}

/** What to do for one user after {@link storeOnce}. */
export interface StoreDecision {
  /** False when an earlier attempt already pushed this message to this user. */
  readonly push: boolean;
  /** The seq to put on the pushed frame (stored messages only). */
  readonly seq?: string;
}

/**
 * Records a message for one user exactly once, however often SNS or Lambda deliver it:
 * the marker's state says how far an earlier attempt got, and each step is conditional.
 */
export async function storeOnce(
  store: InboxStore,
  userId: string,
  message: IncomingMessage,
  options: { persist: boolean; retentionSeconds: number; nowMs: number },
): Promise<StoreDecision> {
  const nowSeconds = Math.floor(options.nowMs / 1000);
  const keepFor = options.persist ? options.retentionSeconds : DEDUPE_WINDOW_SECONDS;
  const expiresAt = nowSeconds + keepFor;
  const claimed = await store.claim(userId, message.id, newSeq(options.nowMs), expiresAt);
  if (claimed.state === 'pushed') return { push: false };
  if (claimed.state === 'stored') return { push: true, seq: options.persist ? claimed.seq : undefined };

  let seq = claimed.seq;
  if (claimed.state === 'claimed') {
    // An earlier attempt stopped before finishing: take a fresh seq so that a client whose cursor
    // moved past the old one meanwhile still finds this message after its cursor.
    const fresh = newSeq(options.nowMs);
    if (await store.reassignSeq(userId, message.id, seq, fresh)) {
      if (options.persist) await store.deleteMessage(userId, seq);
      seq = fresh;
    }
  }
  if (options.persist) await store.putMessage(userId, { ...message, seq, expiresAt });
  if ((await store.advance(userId, message.id, 'claimed', 'stored')) && options.persist) {
    await store.addUnread(userId, message.source ?? DEFAULT_SOURCE, 1);
  }
  return { push: true, seq: options.persist ? seq : undefined };
}

/** Records that a message reached every connection the user had, so a replay pushes nothing. */
export async function markPushed(store: InboxStore, userId: string, messageId: string): Promise<void> {
  await store.advance(userId, messageId, 'stored', 'pushed');
}

/** The frame for a stored message. */
export function toMessageFrame(message: StoredMessage): MessageFrame {
  const frame: MessageFrame = {
    kind: 'message',
    id: message.id,
    seq: message.seq,
    type: message.type,
    data: message.data,
    ts: message.ts,
  };
  if (message.source !== undefined) frame.source = message.source;
  if (message.readAt !== undefined) frame.read = true;
  return frame;
}

/**
 * The backlog answering `resume`, as frames that each fit API Gateway's 128 KB limit, in seq order.
 * With `after`: every kept message from just before that cursor on (see RESUME_LOOKBACK_MS), and
 * `gap` when the cursor's own message is no longer kept. Without: the newest `limit` messages.
 */
export async function* backlogFrames(
  store: InboxStore,
  userId: string,
  request: { after?: string; limit?: number; nowMs: number; maxFrameBytes?: number },
): AsyncGenerator<BacklogFrame> {
  const nowSeconds = Math.floor(request.nowMs / 1000);
  const maxBytes = request.maxFrameBytes ?? MAX_FRAME_BYTES;
  let gap = false;
  let messages: AsyncIterable<StoredMessage>;
  if (request.after !== undefined) {
    const cursorTime = seqTime(request.after);
    if (cursorTime === undefined) {
      throw new InvalidFrameError(
        'INVALID_REQUEST',
        'after must be a seq received from the server',
        'resume',
      );
    }
    gap = !(await store.exists(userId, request.after, nowSeconds));
    messages = forwardFrom(store, userId, seqFloor(cursorTime - RESUME_LOOKBACK_MS), nowSeconds);
  } else {
    const limit = Math.min(Math.max(1, request.limit ?? 50), MAX_RECENT);
    const newest = await store.page(userId, { limit, nowSeconds });
    messages = toAsync(newest.messages.reverse());
  }

  // Hold one frame back so that `more` is only true when another frame really follows.
  let current: MessageFrame[] = [];
  let currentBytes = emptyFrameBytes(gap);
  for await (const message of messages) {
    const frame = toMessageFrame(message);
    const bytes = frameBytes(frame) + 1;
    if (current.length > 0 && currentBytes + bytes > maxBytes) {
      yield { kind: 'backlog', messages: current, more: true, gap };
      gap = false; // said once, on the first page
      current = [];
      currentBytes = emptyFrameBytes(gap);
    }
    current.push(frame);
    currentBytes += bytes;
  }
  yield { kind: 'backlog', messages: current, more: false, gap };
}

function emptyFrameBytes(gap: boolean): number {
  return Buffer.byteLength(JSON.stringify({ kind: 'backlog', messages: [], more: false, gap }), 'utf8');
}

async function* forwardFrom(
  store: InboxStore,
  userId: string,
  fromSeq: string,
  nowSeconds: number,
): AsyncGenerator<StoredMessage> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await store.page(userId, { fromSeq, limit: 100, nowSeconds, startKey });
    yield* page.messages;
    startKey = page.nextKey;
  } while (startKey);
}

async function* toAsync<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

/** Most ids one `ack` frame may carry. */
export const MAX_ACK_IDS = 100;

/**
 * Marks messages read. Each message is decremented from the counters by exactly one caller, so
 * concurrent acks from several devices keep the counts right.
 */
export async function acknowledge(
  store: InboxStore,
  userId: string,
  ids: readonly string[],
  nowMs: number,
): Promise<{ newlyRead: string[]; unread: UnreadCounts }> {
  const newlyRead: string[] = [];
  for (const id of new Set(ids)) {
    const marked = await store.markRead(userId, id, nowMs);
    if (marked === undefined) continue;
    await store.addUnread(userId, marked.source, -1);
    newlyRead.push(id);
  }
  return { newlyRead, unread: await store.unread(userId) };
}
