import { InvalidFrameError, PushlineError } from '../shared/errors.ts';
import { DELIVER_TIMEOUT_SECONDS } from '../shared/limits.ts';
import { type BacklogFrame, DEFAULT_SOURCE, type MessageFrame } from '../shared/protocol.ts';
import { mapBounded } from './fan-out.ts';
import { frameBytes, MAX_FRAME_BYTES } from '../shared/message-frame.ts';
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
  /** How many changes the counts have seen: of two snapshots, the higher version is the newer. */
  version: number;
}

/**
 * The idempotency marker of one message for one user. `leaseUntil` (epoch ms) says until when the
 * attempt that last took it may still be working on it; others wait for it rather than push twice.
 */
export interface Marker {
  readonly state: DeliveryState;
  readonly seq: string;
  readonly leaseUntil: number;
}

/** Persistence the inbox needs; the DynamoDB adapter implements it. */
export interface InboxStore {
  /**
   * Creates the marker in `initialState` (answering state 'new' to the caller that did), or returns
   * the existing one.
   */
  claim(
    userId: string,
    messageId: string,
    seq: string,
    expiresAt: number,
    leaseUntil: number,
    initialState: 'claimed' | 'stored',
  ): Promise<Omit<Marker, 'state'> & { state: DeliveryState | 'new' }>;
  marker(userId: string, messageId: string): Promise<Marker | undefined>;
  /** Takes over a marker whose lease ran out; false when someone else changed it first. */
  takeLease(userId: string, messageId: string, seen: Marker, leaseUntil: number): Promise<boolean>;
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
  /** The same, for a message found by its seq. */
  markReadBySeq(userId: string, seq: string, readAt: number): Promise<{ source: string } | undefined>;
  /**
   * Ascending from `fromSeq` (inclusive) when given, else descending from `beforeSeq` (inclusive)
   * or from the newest.
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
  /** False when another attempt already pushed (or is pushing) this message to this user. */
  readonly push: boolean;
  /** The seq to put on the pushed frame (stored messages only). */
  readonly seq?: string;
}

/**
 * How long an attempt owns a message it started on. It must be at least the delivery function's
 * timeout, so that a lease only runs out when its attempt is surely over.
 */
export const DELIVERY_LEASE_MS = (DELIVER_TIMEOUT_SECONDS + 10) * 1000;

/** How long a duplicate waits for the attempt holding the lease before giving up for a retry. */
export const LEASE_WAIT_MS = 3_000;

/** Another attempt holds the message and did not finish in time: the caller should be retried later. */
export class DeliveryInProgressError extends PushlineError {
  constructor(messageId: string) {
    super('DELIVERY_IN_PROGRESS', `Message ${messageId} is being delivered by another attempt; retry later.`);
  }
}

/**
 * Records a message for one user exactly once, however often or however concurrently SNS and Lambda
 * deliver it. The first attempt claims a marker with a lease; a duplicate waits for that attempt to
 * push (and then pushes nothing), takes over once the lease ran out, or throws
 * DeliveryInProgressError so that Lambda retries it later.
 */
export async function storeOnce(
  store: InboxStore,
  userId: string,
  message: IncomingMessage,
  options: { persist: boolean; retentionSeconds: number; nowMs: number; leaseMs?: number; waitMs?: number },
): Promise<StoreDecision> {
  const leaseMs = options.leaseMs ?? DELIVERY_LEASE_MS;
  const expiresAt =
    Math.floor(options.nowMs / 1000) + (options.persist ? options.retentionSeconds : DEDUPE_WINDOW_SECONDS);
  // A message that is not kept has nothing to store: its marker starts as 'stored', one write fewer.
  const claimed = await store.claim(
    userId,
    message.id,
    newSeq(options.nowMs),
    expiresAt,
    Date.now() + leaseMs,
    options.persist ? 'claimed' : 'stored',
  );
  if (claimed.state === 'new') {
    if (!options.persist) return { push: true };
    return finishStoring(store, userId, message, { ...options, expiresAt }, claimed.seq);
  }

  const deadline = Date.now() + (options.waitMs ?? LEASE_WAIT_MS);
  let marker: Marker | undefined = claimed as Marker;
  for (;;) {
    if (marker === undefined) throw new DeliveryInProgressError(message.id); // expired meanwhile: start afresh later
    if (marker.state === 'pushed') return { push: false };
    if (
      marker.leaseUntil <= Date.now() &&
      (await store.takeLease(userId, message.id, marker, Date.now() + leaseMs))
    ) {
      if (marker.state === 'stored') return { push: true, seq: options.persist ? marker.seq : undefined };
      // The earlier attempt stopped before storing: take a fresh seq so that a client whose cursor
      // moved past the old one meanwhile still finds this message after its cursor.
      const fresh = newSeq(Date.now());
      if (!(await store.reassignSeq(userId, message.id, marker.seq, fresh)))
        throw new DeliveryInProgressError(message.id);
      if (options.persist) await store.deleteMessage(userId, marker.seq);
      return finishStoring(store, userId, message, { ...options, expiresAt }, fresh);
    }
    if (Date.now() >= deadline) throw new DeliveryInProgressError(message.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    marker = await store.marker(userId, message.id);
  }
}

async function finishStoring(
  store: InboxStore,
  userId: string,
  message: IncomingMessage,
  options: { persist: boolean; expiresAt: number },
  seq: string,
): Promise<StoreDecision> {
  if (options.persist) await store.putMessage(userId, { ...message, seq, expiresAt: options.expiresAt });
  if ((await store.advance(userId, message.id, 'claimed', 'stored')) && options.persist) {
    await store.addUnread(userId, message.source ?? DEFAULT_SOURCE, 1);
  }
  return { push: true, seq: options.persist ? seq : undefined };
}

/** Gives up the lease of an attempt that failed, so that its retry need not wait for it to run out. */
export async function releaseLease(store: InboxStore, userId: string, messageId: string): Promise<void> {
  const marker = await store.marker(userId, messageId);
  if (marker && marker.state !== 'pushed') await store.takeLease(userId, messageId, marker, 0);
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

/** Table calls one acknowledgement keeps in flight. */
const ACK_CONCURRENCY = 8;

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
  // Up to 100 ids, three table calls each: a few at a time rather than one after the other.
  const marked = await mapBounded(
    [...new Set(ids)],
    async (id) => {
      const read = await store.markRead(userId, id, nowMs);
      if (read === undefined) return undefined;
      await store.addUnread(userId, read.source, -1);
      return id;
    },
    ACK_CONCURRENCY,
  );
  const newlyRead = marked.filter((id): id is string => id !== undefined);
  return { newlyRead, unread: await store.unread(userId) };
}

/** Most messages one "mark all as read" request marks; the answer says when more are left. */
export const MAX_ACK_ALL = 500;

/**
 * Marks every unread kept message of the user read (of one source, when given), oldest first, at
 * most `max` per call. Safe under concurrent acks like {@link acknowledge}.
 */
export async function acknowledgeAll(
  store: InboxStore,
  userId: string,
  options: { source?: string; nowMs: number; max?: number },
): Promise<{ newlyRead: string[]; unread: UnreadCounts; more: boolean }> {
  const max = options.max ?? MAX_ACK_ALL;
  const newlyRead: string[] = [];
  const nowSeconds = Math.floor(options.nowMs / 1000);
  let more = false;
  for await (const message of forwardFrom(store, userId, '', nowSeconds)) {
    if (message.readAt !== undefined) continue;
    if (options.source !== undefined && (message.source ?? DEFAULT_SOURCE) !== options.source) continue;
    if (newlyRead.length >= max) {
      more = true;
      break;
    }
    const marked = await store.markReadBySeq(userId, message.seq, options.nowMs);
    if (marked === undefined) continue; // another device was first
    await store.addUnread(userId, marked.source, -1);
    newlyRead.push(message.id);
  }
  return { newlyRead, unread: await store.unread(userId), more };
}

/** Most table pages one history request reads, so that a rare source cannot make it scan for long. */
const HISTORY_MAX_QUERIES = 10;

/**
 * A page of the user's kept messages older than `before` (or the newest), newest first, optionally of
 * one source, fitting API Gateway's 128 KB. `more` says whether older messages may be left.
 */
export async function historyPage(
  store: InboxStore,
  userId: string,
  request: { before?: string; source?: string; limit?: number; nowMs: number; maxFrameBytes?: number },
): Promise<{ messages: MessageFrame[]; more: boolean }> {
  if (request.before !== undefined && seqTime(request.before) === undefined) {
    throw new InvalidFrameError(
      'INVALID_REQUEST',
      'before must be a seq received from the server',
      'history',
    );
  }
  const limit = Math.min(Math.max(1, request.limit ?? 50), MAX_RECENT);
  const maxBytes = (request.maxFrameBytes ?? MAX_FRAME_BYTES) - 1024; // room for the frame around them
  const nowSeconds = Math.floor(request.nowMs / 1000);
  const messages: MessageFrame[] = [];
  let bytes = 0;
  let startKey: Record<string, unknown> | undefined;
  for (let query = 0; query < HISTORY_MAX_QUERIES; query++) {
    const page = await store.page(userId, { beforeSeq: request.before, limit: 100, nowSeconds, startKey });
    for (const stored of page.messages) {
      if (stored.seq === request.before) continue; // the range includes the cursor itself
      if (request.source !== undefined && (stored.source ?? DEFAULT_SOURCE) !== request.source) continue;
      const frame = toMessageFrame(stored);
      const size = frameBytes(frame) + 1;
      if (messages.length >= limit || bytes + size > maxBytes) return { messages, more: true };
      messages.push(frame);
      bytes += size;
    }
    startKey = page.nextKey;
    if (startKey === undefined) return { messages, more: false };
  }
  return { messages, more: true };
}
