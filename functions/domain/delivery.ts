/**
 * The delivery sequence, in one place: store once per user → look up connections → post → prune →
 * report. It talks to the world only through the ports below (the DynamoDB and management-API
 * adapters in production, in-memory fakes in unit tests).
 */

import { PushlineError } from '../shared/errors.ts';
import { messageFrameText } from '../shared/message-frame.ts';
import { isMuted, type Preferences } from '../shared/preferences.ts';
import { createLimiter, fanOut, type PostOutcome, settleBounded, type TargetOutcome } from './fan-out.ts';
import { DEDUPE_WINDOW_SECONDS, type InboxStore } from './inbox.ts';
import { newSeq } from './seq.ts';

/** One open connection of a user, as the connection table lists it. */
export interface ConnectionRef {
  readonly connectionId: string;
  /** Epoch milliseconds, when its `$connect` ran. */
  readonly connectedAt: number;
}

/** The connection table, as delivery needs it. */
export interface ConnectionDirectory {
  /** The user's live connections. Must be a strongly consistent read (see {@link deliver}). */
  list(userId: string): Promise<ConnectionRef[]>;
  /** The same, with the user's preferences when they set any (one read: see table-schema.ts). */
  recipient(userId: string): Promise<{ connections: ConnectionRef[]; preferences?: Preferences }>;
  /** Deletes exactly this connection's row. */
  prune(userId: string, connectionId: string): Promise<void>;
}

/** Posts one frame to one connection: 'gone' for 410, 'failed' once its own retries are spent. */
export interface FramePoster {
  post(connectionId: string, text: string): Promise<PostOutcome>;
}

/** Everything the sequence talks to. */
export interface DeliveryPorts {
  readonly inbox: InboxStore;
  readonly connections: ConnectionDirectory;
  readonly poster: FramePoster;
  /** Receives failures that cost nothing but a log line (a prune or a release that failed). */
  readonly warn: (message: string, details: Record<string, unknown>) => void;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** One validated message for a list of users. */
export interface UserDelivery {
  readonly id: string;
  readonly users: readonly string[];
  readonly type: string;
  readonly source?: string;
  /**
   * Who sent it. When that is one of `users` (a client's `send` reaches the sender's own devices),
   * the sender's copy is stored as read and posted with `read: true`: it never counts as unread.
   */
  readonly from?: string;
  /** The envelope's `data` as published. */
  readonly dataJson: string;
  /** Publish time, epoch ms. */
  readonly ts: number;
  readonly persist: boolean;
  readonly retentionSeconds: number;
}

/** How one attempt runs. */
export interface DeliveryOptions {
  /** This attempt's id (e.g. the Lambda request id): it owns the rows it writes. */
  readonly owner: string;
  /** Posts in flight. */
  readonly postConcurrency: number;
  /** Table calls in flight. */
  readonly tableConcurrency: number;
  /** Epoch ms after which no further user is started: they are handed to the retry instead. */
  readonly deadlineMs?: number;
  /** Types no preference mutes (the deployer's mandatory types). @default [] */
  readonly mandatoryTypes?: readonly string[];
}

/** What one attempt did. */
export interface DeliveryReport {
  /** Users this attempt delivered to (stored, and posted to every connection that was open). */
  readonly users: number;
  /** Users another attempt has or had (a duplicate or a replay): nothing done for them. */
  readonly duplicates: number;
  /** Users who mute the message's type or source: stored as read, not pushed. */
  readonly muted: number;
  readonly delivered: number;
  /** Connections pruned after a 410. */
  readonly gone: number;
  /** Connections still in their `$connect` (410 within CONNECT_WINDOW_MS): not pruned. */
  readonly connecting: number;
  /** Users handed back (storing, looking up or a post failed, or the deadline came): retry the event. */
  readonly retryUsers: readonly string[];
  /**
   * Users this attempt delivered to, each with the connections its message was posted to (0: stored
   * for later, no device online). Muted users are not among them.
   */
  readonly reached: readonly { readonly userId: string; readonly connections: number }[];
  /**
   * Users this attempt delivered to (stored) whom no connection took: none open, or every post
   * answered 410 (a connection still in its `$connect` included). Mobile push offers them the
   * message (domain/mobile-push.ts); muted users, duplicates and retried users are never listed.
   */
  readonly unreached: readonly string[];
}

/**
 * How long after its `$connect` a connection may still answer 410 without being gone: API Gateway
 * answers 410 to a post until the handshake completes, and `$connect` may take up to the
 * integration timeout (29 s).
 */
export const CONNECT_WINDOW_MS = 30_000;

/**
 * Waits between re-posts of a push-only message to a connection still in its `$connect`: such a
 * message is not stored, so this is its only way to the device. About 7.5 s in all.
 */
export const CONNECTING_RETRY_DELAYS_MS = [250, 500, 1_000, 2_000, 4_000] as const;

/** Some users could not be delivered to; they were handed back, and a retry of the event delivers them. */
export class DeliveryIncompleteError extends PushlineError {
  constructor(
    readonly messageId: string,
    readonly retryUsers: readonly string[],
  ) {
    super(
      'DELIVERY_INCOMPLETE',
      `Message ${messageId}: ${retryUsers.length} user(s) not delivered to yet; retry the event.`,
    );
  }
}

interface Recipient {
  readonly userId: string;
  readonly text: string;
  readonly connections: readonly ConnectionRef[];
}

/**
 * Delivers one message to its users, idempotently: however often (or concurrently) the same message
 * arrives, each user gets it stored once and pushed by one attempt. Per user, in this order:
 *
 * 1. claim: one conditional put writes the message (and its marker) unless a row exists; a row
 *    another attempt holds means a duplicate, and nothing more is done; a row handed back is taken
 *    over.
 * 2. look up the user's connections, strongly consistently and only after storing: a device whose
 *    connection row is written after this read resumes after it and finds the stored message; one
 *    written before is seen here and gets the push. (An eventually consistent read could miss a row
 *    written just before, and that device would get neither.)
 * 3. post to every connection; prune those that answer 410, except connections still in their
 *    `$connect` (see CONNECT_WINDOW_MS), which get a push-only message re-posted a few times.
 *
 * A user's posts start as soon as that user's connections are known, while the other users' table
 * requests go on (`tableConcurrency` of those and `postConcurrency` posts in flight at once): the
 * first frames do not wait for the last user's claim.
 *
 * A failure for one user (a table error, a post that kept failing, the deadline) never holds up the
 * others: that user's row is handed back and listed in `retryUsers`, and the caller retries the event.
 */
export async function deliver(
  ports: DeliveryPorts,
  message: UserDelivery,
  options: DeliveryOptions,
): Promise<DeliveryReport> {
  const nowMs = Date.now();
  const users = [...new Set(message.users)];
  const expiresAt =
    Math.floor(nowMs / 1000) + (message.persist ? message.retentionSeconds : DEDUPE_WINDOW_SECONDS);
  const retry = new Set<string>();
  let duplicates = 0;
  let muted = 0;
  type Target = { readonly recipient: Recipient; readonly connection: ConnectionRef };
  const postLimit = createLimiter(options.postConcurrency);
  /** Every post started, in the order started; none rejects (a thrown post is 'failed', as in fanOut). */
  const posting: Promise<TargetOutcome<Target>>[] = [];
  const startPosts = (recipient: Recipient) => {
    for (const connection of recipient.connections) {
      const target = { recipient, connection };
      posting.push(
        postLimit(() => ports.poster.post(connection.connectionId, recipient.text)).then(
          (outcome): TargetOutcome<Target> => ({ target, outcome }),
          (error: unknown): TargetOutcome<Target> => ({ target, outcome: 'failed', error }),
        ),
      );
    }
  };

  const claimed = await settleBounded(
    users,
    async (userId): Promise<Recipient | undefined> => {
      if (options.deadlineMs !== undefined && Date.now() >= options.deadlineMs) {
        retry.add(userId);
        return undefined;
      }
      const seq = message.persist ? newSeq(Date.now()) : undefined;
      const ownCopy = userId === message.from;
      const outcome = await ports.inbox.claim(userId, {
        id: message.id,
        seq,
        type: message.type,
        source: message.source,
        from: message.from,
        dataJson: message.dataJson,
        ts: message.ts,
        ...(ownCopy ? { readAt: message.ts } : {}),
        expiresAt,
        owner: options.owner,
      });
      const mine =
        outcome.state === 'new' ||
        (outcome.state === 'released' && (await ports.inbox.takeOver(userId, message.id, options.owner)));
      if (!mine) {
        duplicates++;
        return undefined;
      }
      // A row taken over keeps the seq it was stored with.
      const storedSeq = outcome.state === 'released' ? outcome.seq : seq;
      const text = messageFrameText({
        id: message.id,
        seq: storedSeq,
        type: message.type,
        source: message.source,
        from: message.from,
        ts: message.ts,
        read: ownCopy,
        dataJson: message.dataJson,
      });
      const { connections, preferences } = await ports.connections.recipient(userId);
      if (isMuted(preferences, message, options.mandatoryTypes ?? [])) {
        // Kept (history shows it), never pushed, never counted: the user chose not to be told.
        if (storedSeq !== undefined && !ownCopy) await ports.inbox.markRead(userId, message.id, message.ts);
        muted++;
        return undefined;
      }
      const recipient = { userId, text, connections };
      startPosts(recipient);
      return recipient;
    },
    options.tableConcurrency,
  );
  const recipients: Recipient[] = [];
  claimed.forEach((result, index) => {
    const userId = users[index] as string;
    if (result.ok) {
      if (result.value !== undefined) recipients.push(result.value);
    } else {
      ports.warn('Could not store or look up; the user is retried', { userId, error: result.error });
      retry.add(userId);
    }
  });

  const outcomes = await Promise.all(posting);

  let delivered = outcomes.filter(({ outcome }) => outcome === 'delivered').length;
  let gone = 0;
  const connecting: Target[] = [];
  const pruning: Target[] = [];
  for (const { target, outcome, error } of outcomes) {
    if (outcome === 'failed') {
      ports.warn('Post failed after retries; the user is retried', {
        connectionId: target.connection.connectionId,
        error,
      });
      retry.add(target.recipient.userId);
    } else if (outcome === 'gone') {
      if (nowMs - target.connection.connectedAt < CONNECT_WINDOW_MS) connecting.push(target);
      else pruning.push(target);
    }
  }
  // A stored message reaches a connecting device through its first `resume`; a push-only one only
  // through a post, so it is re-posted until the handshake completes (or the delays run out).
  const stillConnecting = message.persist ? connecting : await repostConnecting(ports, connecting, options);
  delivered += connecting.length - stillConnecting.length;

  await settleBounded(
    pruning,
    async ({ recipient, connection }) => {
      try {
        await ports.connections.prune(recipient.userId, connection.connectionId);
        gone++;
      } catch (error) {
        ports.warn('Could not delete a gone connection; its TTL will', {
          connectionId: connection.connectionId,
          error,
        });
      }
    },
    options.tableConcurrency,
  );
  await settleBounded(
    [...retry],
    async (userId) => {
      try {
        await ports.inbox.release(userId, message.id, options.owner);
      } catch (error) {
        // The row stays claimed: the retry treats it as handled, and the stored message reaches
        // the user's devices on their next resume.
        ports.warn('Could not hand a user back for the retry', { userId, error });
      }
    },
    options.tableConcurrency,
  );

  const posted = new Map<string, number>();
  const countPost = (userId: string) => posted.set(userId, (posted.get(userId) ?? 0) + 1);
  for (const { target, outcome } of outcomes) if (outcome === 'delivered') countPost(target.recipient.userId);
  for (const target of connecting) if (!stillConnecting.includes(target)) countPost(target.recipient.userId);
  const reached = recipients
    .filter((recipient) => !retry.has(recipient.userId))
    .map((recipient) => ({ userId: recipient.userId, connections: posted.get(recipient.userId) ?? 0 }));

  return {
    reached,
    users: reached.length,
    duplicates,
    muted,
    delivered,
    gone,
    connecting: stillConnecting.length,
    retryUsers: [...retry],
    unreached: recipients
      .filter((recipient) => !retry.has(recipient.userId) && (posted.get(recipient.userId) ?? 0) === 0)
      .map((recipient) => recipient.userId),
  };
}

async function repostConnecting<T extends { connection: ConnectionRef; recipient: Recipient }>(
  ports: DeliveryPorts,
  connecting: readonly T[],
  options: DeliveryOptions,
): Promise<T[]> {
  const sleep = ports.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let waiting = [...connecting];
  for (const delay of CONNECTING_RETRY_DELAYS_MS) {
    if (waiting.length === 0) break;
    if (options.deadlineMs !== undefined && Date.now() + delay >= options.deadlineMs) break;
    await sleep(delay);
    const summary = await fanOut(
      waiting,
      (target) => ports.poster.post(target.connection.connectionId, target.recipient.text),
      options.postConcurrency,
    );
    waiting = summary.outcomes
      .filter((result) => result.outcome !== 'delivered')
      .map((result) => result.target);
  }
  return waiting;
}

/**
 * Posts one frame to every connection of a user (e.g. a `read` frame to all devices), pruning the
 * connections that are gone, sparing those still in their `$connect`. Never throws for a connection.
 */
export async function postToUser(
  ports: Pick<DeliveryPorts, 'connections' | 'poster' | 'warn'>,
  userId: string,
  text: string,
  concurrency: number,
): Promise<{ delivered: number; gone: number; failed: number }> {
  const nowMs = Date.now();
  const connections = await ports.connections.list(userId);
  const summary = await fanOut(connections, (c) => ports.poster.post(c.connectionId, text), concurrency);
  const stale = summary.outcomes.filter(
    (result) => result.outcome === 'gone' && nowMs - result.target.connectedAt >= CONNECT_WINDOW_MS,
  );
  await settleBounded(
    stale,
    async ({ target }) => {
      try {
        await ports.connections.prune(userId, target.connectionId);
      } catch (error) {
        ports.warn('Could not delete a gone connection; its TTL will', {
          connectionId: target.connectionId,
          error,
        });
      }
    },
    concurrency,
  );
  return { delivered: summary.delivered, gone: stale.length, failed: summary.failed };
}
