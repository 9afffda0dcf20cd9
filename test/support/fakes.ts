import type { Preferences } from '../../functions/shared/preferences.ts';
/**
 * In-memory ports of the delivery sequence (functions/domain/delivery.ts), with the semantics of the
 * DynamoDB adapters, so that races and failure paths run in milliseconds. `test/support/inbox-contract.ts`
 * holds the behaviour both this fake and the real adapter must show.
 */

import { audienceShardKey } from '../../functions/adapters/audience-store.ts';
import type {
  Audience,
  AudienceMember,
  AudienceStore,
  FanoutPart,
  PartKey,
  PartQueue,
  Subscription,
} from '../../functions/domain/audience.ts';
import type {
  ConnectionDirectory,
  ConnectionRef,
  DeliveryPorts,
  FramePoster,
} from '../../functions/domain/delivery.ts';
import type { PostOutcome } from '../../functions/domain/fan-out.ts';
import type {
  ClaimOutcome,
  InboxStore,
  MessageRow,
  StoredMessage,
  UnreadCounts,
} from '../../functions/domain/inbox.ts';
import { DEFAULT_SOURCE } from '../../functions/shared/protocol.ts';
import { shardOf } from '../../functions/shared/topics.ts';

interface Row extends MessageRow {
  state: 'claimed' | 'retry';
  owner: string;
  unread?: string;
  readAt?: number;
}

/** A store call the test wants to fail: which method, and on which of its calls (1-based). */
export interface StoreFault {
  readonly method: keyof InboxStore;
  /** Fails every call after the first `after` ones. @default 0 */
  readonly after?: number;
  /** Only for this user. */
  readonly userId?: string;
  /** How many calls fail. @default Infinity */
  readonly times?: number;
}

/** An InboxStore in memory; `faults` makes chosen calls throw, as a table outage would. */
export class MemoryInbox implements InboxStore {
  readonly rows = new Map<string, Map<string, Row>>();
  readonly calls: { method: keyof InboxStore; userId: string }[] = [];
  faults: StoreFault[] = [];

  #user(userId: string): Map<string, Row> {
    let rows = this.rows.get(userId);
    if (!rows) {
      rows = new Map();
      this.rows.set(userId, rows);
    }
    return rows;
  }

  #call(method: keyof InboxStore, userId: string): void {
    this.calls.push({ method, userId });
    for (const fault of this.faults) {
      if (fault.method !== method || (fault.userId !== undefined && fault.userId !== userId)) continue;
      const count = this.calls.filter(
        (c) => c.method === method && (fault.userId === undefined || c.userId === fault.userId),
      ).length;
      const after = fault.after ?? 0;
      if (count > after && count <= after + (fault.times ?? Number.POSITIVE_INFINITY)) {
        throw Object.assign(new Error(`injected ${method} failure (call ${count})`), {
          name: 'InternalServerError',
        });
      }
    }
  }

  async claim(userId: string, row: MessageRow): Promise<ClaimOutcome> {
    this.#call('claim', userId);
    const rows = this.#user(userId);
    const existing = rows.get(row.id);
    if (existing === undefined) {
      rows.set(row.id, {
        ...row,
        state: 'claimed',
        ...(row.seq !== undefined && row.readAt === undefined ? { unread: row.seq } : {}),
      });
      return { state: 'new' };
    }
    if (existing.state === 'claimed' && existing.owner === row.owner) return { state: 'new' };
    if (existing.state === 'retry') return { state: 'released', seq: existing.seq };
    return { state: 'handled' };
  }

  async takeOver(userId: string, messageId: string, owner: string): Promise<boolean> {
    this.#call('takeOver', userId);
    const row = this.#user(userId).get(messageId);
    if (row?.state !== 'retry') return false;
    row.state = 'claimed';
    row.owner = owner;
    return true;
  }

  async release(userId: string, messageId: string, owner: string): Promise<void> {
    this.#call('release', userId);
    const row = this.#user(userId).get(messageId);
    if (row?.state === 'claimed' && row.owner === owner) row.state = 'retry';
  }

  async unread(userId: string, nowMs: number): Promise<UnreadCounts> {
    this.#call('unread', userId);
    const counts: UnreadCounts = { total: 0, bySource: {}, version: nowMs };
    for (const row of this.#user(userId).values()) {
      if (row.unread === undefined || row.expiresAt <= Math.floor(nowMs / 1000)) continue;
      const source = row.source ?? DEFAULT_SOURCE;
      counts.total++;
      counts.bySource[source] = (counts.bySource[source] ?? 0) + 1;
    }
    return counts;
  }

  async markRead(userId: string, messageId: string, readAt: number): Promise<boolean> {
    this.#call('markRead', userId);
    const row = this.#user(userId).get(messageId);
    if (row?.unread === undefined) return false;
    row.unread = undefined;
    row.readAt = readAt;
    return true;
  }

  async unreadPage(
    userId: string,
    options: { limit: number; nowSeconds: number; startKey?: Record<string, unknown> },
  ) {
    this.#call('unreadPage', userId);
    const unread = this.#stored(userId, options.nowSeconds).filter((row) => row.unread !== undefined);
    const start = Number(options.startKey?.offset ?? 0);
    const slice = unread.slice(start, start + options.limit);
    return {
      messages: slice.map((row) => ({ id: row.id, source: row.source ?? DEFAULT_SOURCE })),
      nextKey: start + options.limit < unread.length ? { offset: start + options.limit } : undefined,
    };
  }

  async page(
    userId: string,
    options: {
      fromSeq?: string;
      beforeSeq?: string;
      limit: number;
      nowSeconds: number;
      startKey?: Record<string, unknown>;
    },
  ) {
    this.#call('page', userId);
    const forward = options.fromSeq !== undefined;
    let rows = this.#stored(userId, options.nowSeconds);
    if (forward) rows = rows.filter((row) => (row.seq as string) >= (options.fromSeq as string));
    else {
      if (options.beforeSeq !== undefined)
        rows = rows.filter((row) => (row.seq as string) <= (options.beforeSeq as string));
      rows.reverse();
    }
    const start = Number(options.startKey?.offset ?? 0);
    const slice = rows.slice(start, start + options.limit);
    return {
      messages: slice.map(toStored),
      nextKey: start + options.limit < rows.length ? { offset: start + options.limit } : undefined,
    };
  }

  async exists(userId: string, seq: string, nowSeconds: number): Promise<boolean> {
    this.#call('exists', userId);
    return this.#stored(userId, nowSeconds).some((row) => row.seq === seq);
  }

  /** Stored (persisted), unexpired rows in seq order. */
  #stored(userId: string, nowSeconds: number): Row[] {
    return [...this.#user(userId).values()]
      .filter((row) => row.seq !== undefined && row.expiresAt > nowSeconds)
      .sort((a, b) => ((a.seq as string) < (b.seq as string) ? -1 : 1));
  }
}

function toStored(row: Row): StoredMessage {
  return {
    seq: row.seq as string,
    id: row.id,
    type: row.type,
    source: row.source,
    from: row.from,
    dataJson: row.dataJson,
    ts: row.ts,
    expiresAt: row.expiresAt,
    readAt: row.readAt,
  };
}

/** The connection table in memory. */
export class MemoryConnections implements ConnectionDirectory {
  readonly byUser = new Map<string, ConnectionRef[]>();
  readonly pruned: string[] = [];
  /** Makes `list` throw for these users. */
  readonly failingUsers = new Set<string>();

  add(userId: string, connectionId: string, connectedAt = Date.now() - 60_000): void {
    this.byUser.set(userId, [...(this.byUser.get(userId) ?? []), { connectionId, connectedAt }]);
  }

  /** Preferences by user, as the preferences row holds them. */
  readonly preferences = new Map<string, Preferences>();

  async list(userId: string): Promise<ConnectionRef[]> {
    if (this.failingUsers.has(userId)) throw new Error(`injected lookup failure for ${userId}`);
    return [...(this.byUser.get(userId) ?? [])];
  }

  async recipient(userId: string): Promise<{ connections: ConnectionRef[]; preferences?: Preferences }> {
    const connections = await this.list(userId);
    const preferences = this.preferences.get(userId);
    return preferences === undefined ? { connections } : { connections, preferences };
  }

  async prune(userId: string, connectionId: string): Promise<void> {
    this.pruned.push(connectionId);
    this.byUser.set(
      userId,
      (this.byUser.get(userId) ?? []).filter((connection) => connection.connectionId !== connectionId),
    );
  }
}

/**
 * A gateway in memory: `answers` scripts what a connection answers (each post takes the next
 * answer; the last one repeats); unscripted connections answer 'delivered'. Every post is recorded.
 */
export class MemoryPoster implements FramePoster {
  readonly posts: { connectionId: string; text: string; outcome: PostOutcome }[] = [];
  readonly answers = new Map<string, PostOutcome[]>();

  async post(connectionId: string, text: string): Promise<PostOutcome> {
    const script = this.answers.get(connectionId);
    const outcome =
      script === undefined
        ? 'delivered'
        : script.length > 1
          ? (script.shift() as PostOutcome)
          : (script[0] as PostOutcome);
    this.posts.push({ connectionId, text, outcome });
    if (outcome === 'failed') throw new Error(`injected post failure to ${connectionId}`);
    return outcome;
  }

  /** Texts delivered to a connection. */
  deliveredTo(connectionId: string): string[] {
    return this.posts
      .filter((p) => p.connectionId === connectionId && p.outcome === 'delivered')
      .map((p) => p.text);
  }
}

/** A full set of in-memory ports; sleeping is instant, and recorded. */
export function memoryPorts(): DeliveryPorts & {
  inbox: MemoryInbox;
  connections: MemoryConnections;
  poster: MemoryPoster;
  warnings: string[];
  slept: number[];
} {
  const warnings: string[] = [];
  const slept: number[] = [];
  return {
    inbox: new MemoryInbox(),
    connections: new MemoryConnections(),
    poster: new MemoryPoster(),
    warn: (message) => warnings.push(message),
    sleep: async (ms) => {
      slept.push(ms);
    },
    warnings,
    slept,
  };
}

/**
 * An AudienceStore in memory with the DynamoDB adapter's semantics (rows by shard in connection-id
 * order, presence sets, part claims); `failMembers` makes member reads throw, as a table outage would.
 */
export class MemoryAudience implements AudienceStore {
  /** Rows by partition (`audienceShardKey`), each keyed by connection id. */
  readonly rows = new Map<string, Map<string, Subscription | (AudienceMember & { expiresAt: number })>>();
  readonly presence = new Map<string, Set<string>>();
  readonly parts = new Map<string, { state: 'claimed' | 'done'; owner: string; claimedAt: number }>();
  failMembers = 0;

  /** Adds a connection to the broadcast audience, as `$connect` does. */
  connect(userId: string, connectionId: string, connectedAt = Date.now() - 60_000): void {
    this.#partition(audienceShardKey({ all: true }, shardOf(connectionId))).set(connectionId, {
      userId,
      connectionId,
      connectedAt,
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    });
  }

  #partition(key: string) {
    const partition = this.rows.get(key) ?? new Map();
    this.rows.set(key, partition);
    return partition;
  }

  /** Subscriptions per connection id, as the connection row's count. */
  readonly topicCounts = new Map<string, number>();

  async subscribe(subscription: Subscription, maxTopics: number): Promise<'subscribed' | 'already' | 'full'> {
    const partition = this.#partition(
      audienceShardKey({ topic: subscription.topic }, shardOf(subscription.connectionId)),
    );
    if (partition.has(subscription.connectionId)) return 'already';
    const count = this.topicCounts.get(subscription.connectionId) ?? 0;
    if (count >= maxTopics) return 'full';
    this.topicCounts.set(subscription.connectionId, count + 1);
    partition.set(subscription.connectionId, subscription);
    return 'subscribed';
  }

  async unsubscribe(topic: string, _userId: string, connectionId: string): Promise<boolean> {
    const removed = this.#partition(audienceShardKey({ topic }, shardOf(connectionId))).delete(connectionId);
    const count = this.topicCounts.get(connectionId) ?? 0;
    if (removed && count > 0) this.topicCounts.set(connectionId, count - 1);
    return removed;
  }

  async members(
    audience: Audience,
    shard: number,
    options: { after?: string; limit: number; nowSeconds: number },
  ) {
    if (this.failMembers > 0) {
      this.failMembers--;
      throw new Error('injected table failure');
    }
    const sorted = [...this.#partition(audienceShardKey(audience, shard)).values()].sort((a, b) =>
      a.connectionId < b.connectionId ? -1 : 1,
    );
    const after = options.after;
    const rest = after === undefined ? sorted : sorted.filter((row) => row.connectionId > after);
    const page = rest.slice(0, options.limit);
    const members = page
      .filter((row) => row.expiresAt > options.nowSeconds)
      .map(({ userId, connectionId, connectedAt }) => ({ userId, connectionId, connectedAt }));
    const last = page.at(-1);
    return rest.length > options.limit && last !== undefined
      ? { members, last: last.connectionId }
      : { members };
  }

  async remove(audience: Audience, member: AudienceMember): Promise<void> {
    this.#partition(audienceShardKey(audience, shardOf(member.connectionId))).delete(member.connectionId);
  }

  async forget(_userId: string, connectionId: string): Promise<{ topics: string[] }> {
    const topics: string[] = [];
    for (const partition of this.rows.values()) {
      const row = partition.get(connectionId);
      if (row !== undefined && 'topic' in row) topics.push(row.topic);
      partition.delete(connectionId);
    }
    this.topicCounts.delete(connectionId);
    return { topics };
  }

  async join(topic: string, userId: string, connectionId: string): Promise<boolean> {
    const key = `${topic}/${userId}`;
    const set = this.presence.get(key) ?? new Set();
    this.presence.set(key, set);
    const first = set.size === 0;
    set.add(connectionId);
    return first;
  }

  async leave(topic: string, userId: string, connectionId: string): Promise<boolean> {
    const set = this.presence.get(`${topic}/${userId}`);
    if (set === undefined || !set.delete(connectionId)) return false;
    return set.size === 0;
  }

  async claimPart(part: PartKey, owner: string, nowMs: number, staleMs: number): Promise<boolean> {
    const key = `${part.messageId}/${part.shard}/${part.after ?? ''}`;
    const existing = this.parts.get(key);
    if (existing !== undefined && (existing.state === 'done' || existing.claimedAt >= nowMs - staleMs))
      return false;
    this.parts.set(key, { state: 'claimed', owner, claimedAt: nowMs });
    return true;
  }

  async finishPart(part: PartKey): Promise<void> {
    const existing = this.parts.get(`${part.messageId}/${part.shard}/${part.after ?? ''}`);
    if (existing !== undefined) existing.state = 'done';
  }

  async releasePart(part: PartKey, owner: string): Promise<void> {
    const key = `${part.messageId}/${part.shard}/${part.after ?? ''}`;
    if (this.parts.get(key)?.owner === owner) this.parts.delete(key);
  }
}

/** A PartQueue in memory: the parts handed on, to run by hand. */
export class MemoryPartQueue implements PartQueue {
  readonly sent: FanoutPart[] = [];
  async send(parts: readonly FanoutPart[]): Promise<void> {
    this.sent.push(...parts);
  }
}
