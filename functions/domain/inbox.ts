import { InvalidFrameError } from '../shared/errors.ts';
import { DELIVER_TIMEOUT_SECONDS } from '../shared/limits.ts';
import {
  listFrameText,
  MAX_FRAME_BYTES,
  type MessageFields,
  messageFrameText,
  textBytes,
} from '../shared/message-frame.ts';
import { DEFAULT_SOURCE } from '../shared/protocol.ts';
import { mapBounded } from './fan-out.ts';
import { seqFloor, seqTime } from './seq.ts';

/** A message as kept in a user's inbox. */
export interface StoredMessage {
  readonly seq: string;
  readonly id: string;
  readonly type: string;
  readonly source?: string;
  /** Who sent it (a client `send`'s user, or what a service's envelope named). */
  readonly from?: string;
  /** The envelope's `data`, as the JSON text the publisher sent. */
  readonly dataJson: string;
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
  /**
   * When the counts were read (epoch ms): of two snapshots, the higher version is the newer. Counts
   * are derived from the messages themselves with a strongly consistent read, so a later read
   * reflects every change an earlier one did.
   */
  version: number;
}

/**
 * The row one attempt writes for one message and one user: the idempotency marker, and with a `seq`
 * the stored message itself (one conditional put).
 */
export interface MessageRow {
  readonly id: string;
  /** Present when the message is stored (persist); absent for a marker only. */
  readonly seq?: string;
  readonly type: string;
  readonly source?: string;
  readonly from?: string;
  readonly dataJson: string;
  readonly ts: number;
  /** Set to store the message as read already (epoch ms): the sender's own copy of what it sent. */
  readonly readAt?: number;
  /** Epoch seconds: the retention, or the dedupe window of a message that is not stored. */
  readonly expiresAt: number;
  /** The attempt writing it, so that an SDK retry of its own put is recognised as its own. */
  readonly owner: string;
}

/**
 * What `claim` found: `new` for the attempt that wrote the row; `handled` when another attempt has
 * (or had) the message for this user; `released` when an attempt handed the user back to a retry,
 * with the seq the message was stored under then.
 */
export type ClaimOutcome =
  | { readonly state: 'new' }
  | { readonly state: 'handled' }
  | { readonly state: 'released'; readonly seq?: string };

/** Persistence the inbox needs; the DynamoDB adapter and the in-memory fake implement it. */
export interface InboxStore {
  /** Writes the row unless one exists for this message and user (one conditional request). */
  claim(userId: string, row: MessageRow): Promise<ClaimOutcome>;
  /** Takes a released row for `owner`; true for exactly one caller. */
  takeOver(userId: string, messageId: string, owner: string): Promise<boolean>;
  /** Hands the owner's claimed row back (state `retry`) so that the next attempt delivers it. */
  release(userId: string, messageId: string, owner: string): Promise<void>;
  /** Unread kept messages (strongly consistent; expired ones do not count). */
  unread(userId: string, nowMs: number): Promise<UnreadCounts>;
  /** Marks a stored message read; true for exactly one caller, false when read already or missing. */
  markRead(userId: string, messageId: string, readAt: number): Promise<boolean>;
  /** Unread kept messages, oldest first, from the sparse unread index. */
  unreadPage(
    userId: string,
    options: { limit: number; nowSeconds: number; startKey?: Record<string, unknown> },
  ): Promise<{ messages: { id: string; source: string }[]; nextKey?: Record<string, unknown> }>;
  /**
   * Stored messages in seq order, strongly consistent: ascending from `fromSeq` (inclusive) when
   * given, else descending from `beforeSeq` (inclusive) or from the newest.
   */
  page(
    userId: string,
    options: {
      fromSeq?: string;
      beforeSeq?: string;
      limit: number;
      nowSeconds: number;
      startKey?: Record<string, unknown>;
    },
  ): Promise<{ messages: StoredMessage[]; nextKey?: Record<string, unknown> }>;
  /** True when the message with this seq is still kept and not expired. */
  exists(userId: string, seq: string, nowSeconds: number): Promise<boolean>;
}

/**
 * How far before a resume cursor the backlog starts again. A seq is taken just before its message is
 * written, so a message can appear after a later seq was already read; the delivery function's
 * timeout bounds that delay, and this window must be at least as long (clients drop the repeats).
 */
export const RESUME_LOOKBACK_MS = (DELIVER_TIMEOUT_SECONDS + 10) * 1000;

/** How long the idempotency marker of a message that is not stored is kept: one day. */
export const DEDUPE_WINDOW_SECONDS = 24 * 60 * 60;

/** Most messages in the answer to a `resume` without cursor, and in one `history` page. */
export const MAX_RECENT = 100;

/**
 * Most messages one `resume` sends; the last page then names the `next` seq to resume from, so that
 * one request never reads without bound inside the message function's time.
 */
export const MAX_RESUME_MESSAGES = 1_000;

/** The frame fields of a stored message. */
export function storedFields(message: StoredMessage): MessageFields {
  return {
    id: message.id,
    seq: message.seq,
    type: message.type,
    source: message.source,
    from: message.from,
    ts: message.ts,
    read: message.readAt !== undefined,
    dataJson: message.dataJson,
  };
}

/**
 * The backlog answering `resume`, as frame texts that each fit API Gateway's 128 KB limit, in seq
 * order. With `after`: every kept message from just before that cursor on (see RESUME_LOOKBACK_MS),
 * and `gap` when the cursor's own message is no longer kept. With `from` (a `next` the server gave):
 * exactly from there. Without either: the newest `limit` messages. At most `maxMessages` are sent;
 * when more are left the last page says `more: true` and the `next` seq to resume from.
 */
export async function* backlogFrames(
  store: InboxStore,
  userId: string,
  request: {
    after?: string;
    from?: string;
    limit?: number;
    nowMs: number;
    maxFrameBytes?: number;
    maxMessages?: number;
    /** Marks the backlog and its messages as a topic's, or the broadcasts' (a topic log's backlog). */
    label?: { readonly topic?: string; readonly broadcast?: boolean };
  },
): AsyncGenerator<string> {
  const label = request.label ?? {};
  const nowSeconds = Math.floor(request.nowMs / 1000);
  const maxBytes = request.maxFrameBytes ?? MAX_FRAME_BYTES;
  const maxMessages = request.maxMessages ?? MAX_RESUME_MESSAGES;
  let gap = false;
  let messages: AsyncIterable<StoredMessage>;
  if (request.from !== undefined) {
    requireSeq(request.from, 'from', 'resume');
    messages = forwardFrom(store, userId, request.from, nowSeconds);
  } else if (request.after !== undefined) {
    const cursorTime = requireSeq(request.after, 'after', 'resume');
    gap = !(await store.exists(userId, request.after, nowSeconds));
    messages = forwardFrom(store, userId, seqFloor(cursorTime - RESUME_LOOKBACK_MS), nowSeconds);
  } else {
    const limit = Math.min(Math.max(1, request.limit ?? 50), MAX_RECENT);
    const newest = await store.page(userId, { limit, nowSeconds });
    messages = toAsync(newest.messages.reverse());
  }

  // Hold one frame back so that `more` is only true when another frame really follows.
  const frame = (texts: string[], more: boolean, next?: string) =>
    listFrameText(
      {
        kind: 'backlog',
        ...(label.topic !== undefined ? { topic: label.topic } : {}),
        ...(label.broadcast === true ? { broadcast: true } : {}),
      },
      texts,
      { more, gap, ...(next !== undefined ? { next } : {}) },
    );
  let current: string[] = [];
  let currentBytes = textBytes(frame([], false));
  let sent = 0;
  for await (const message of messages) {
    if (sent >= maxMessages) {
      yield frame(current, true, message.seq);
      return;
    }
    const text = messageFrameText({ ...storedFields(message), ...label });
    const bytes = textBytes(text) + 1;
    if (current.length > 0 && currentBytes + bytes > maxBytes) {
      yield frame(current, true);
      gap = false; // said once, on the first page
      current = [];
      currentBytes = textBytes(frame([], false));
    }
    current.push(text);
    currentBytes += bytes;
    sent++;
  }
  yield frame(current, false);
}

function requireSeq(value: string, field: string, action: string): number {
  const time = seqTime(value);
  if (time === undefined) {
    throw new InvalidFrameError('INVALID_REQUEST', `${field} must be a seq received from the server`, action);
  }
  return time;
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

/** Table calls one acknowledgement keeps in flight. */
const ACK_CONCURRENCY = 8;

/**
 * Marks messages read. Exactly one acknowledgement takes each message off the unread index, so
 * concurrent acks from several devices keep the counts right (they are derived from that index).
 */
export async function acknowledge(
  store: InboxStore,
  userId: string,
  ids: readonly string[],
  nowMs: number,
): Promise<{ newlyRead: string[]; unread: UnreadCounts }> {
  const marked = await mapBounded(
    [...new Set(ids)],
    async (id) => ((await store.markRead(userId, id, nowMs)) ? id : undefined),
    ACK_CONCURRENCY,
  );
  const newlyRead = marked.filter((id): id is string => id !== undefined);
  return { newlyRead, unread: await store.unread(userId, Date.now()) };
}

/** Most messages one "mark all as read" request marks; the answer says when more are left. */
export const MAX_ACK_ALL = 500;

/** Most index pages one "mark all as read" request reads (a rare source cannot make it read long). */
const ACK_ALL_MAX_QUERIES = 10;

/**
 * Marks unread kept messages of the user read (of one source, when given), oldest first, at most
 * `max` per call, reading only the sparse unread index. Safe under concurrent acks.
 */
export async function acknowledgeAll(
  store: InboxStore,
  userId: string,
  options: { source?: string; nowMs: number; max?: number },
): Promise<{ newlyRead: string[]; unread: UnreadCounts; more: boolean }> {
  const max = options.max ?? MAX_ACK_ALL;
  const nowSeconds = Math.floor(options.nowMs / 1000);
  const candidates: string[] = [];
  let more = false;
  let startKey: Record<string, unknown> | undefined;
  for (let query = 0; query < ACK_ALL_MAX_QUERIES; query++) {
    const page = await store.unreadPage(userId, { limit: 100, nowSeconds, startKey });
    for (const message of page.messages) {
      if (options.source !== undefined && message.source !== options.source) continue;
      if (candidates.length >= max) more = true;
      else candidates.push(message.id);
    }
    startKey = page.nextKey;
    if (startKey === undefined || more) break;
  }
  if (startKey !== undefined) more = true;
  const { newlyRead, unread } = await acknowledge(store, userId, candidates, options.nowMs);
  return { newlyRead, unread, more };
}

/** Most table pages one history request reads, so that a rare source cannot make it scan for long. */
const HISTORY_MAX_QUERIES = 10;

/**
 * A page of the user's kept messages older than `before` (or the newest), newest first, optionally of
 * one source, as message frame texts fitting API Gateway's 128 KB. `more` says whether older
 * messages may be left.
 */
export async function historyPage(
  store: InboxStore,
  userId: string,
  request: { before?: string; source?: string; limit?: number; nowMs: number; maxFrameBytes?: number },
): Promise<{ messages: string[]; more: boolean }> {
  if (request.before !== undefined) requireSeq(request.before, 'before', 'history');
  const limit = Math.min(Math.max(1, request.limit ?? 50), MAX_RECENT);
  const maxBytes = (request.maxFrameBytes ?? MAX_FRAME_BYTES) - 1024; // room for the frame around them
  const nowSeconds = Math.floor(request.nowMs / 1000);
  const messages: string[] = [];
  let bytes = 0;
  let startKey: Record<string, unknown> | undefined;
  for (let query = 0; query < HISTORY_MAX_QUERIES; query++) {
    const page = await store.page(userId, { beforeSeq: request.before, limit: 100, nowSeconds, startKey });
    for (const stored of page.messages) {
      if (stored.seq === request.before) continue; // the range includes the cursor itself
      if (request.source !== undefined && (stored.source ?? DEFAULT_SOURCE) !== request.source) continue;
      const text = messageFrameText(storedFields(stored));
      const size = textBytes(text) + 1;
      if (messages.length >= limit || bytes + size > maxBytes) return { messages, more: true };
      messages.push(text);
      bytes += size;
    }
    startKey = page.nextKey;
    if (startKey === undefined) return { messages, more: false };
  }
  return { messages, more: true };
}
