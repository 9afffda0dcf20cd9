/**
 * Topics and broadcast: who is in an audience, and how one message reaches all of it.
 *
 * An audience (a topic's subscribers, or every connection) is spread over AUDIENCE_SHARDS partitions
 * (shared/topics.ts). A message for an audience becomes one part per shard, handed on through the
 * internal fan-out topic; each part is run by one invocation of the fan-out function, which posts to
 * at most a configured number of connections (and paces its posts) before it hands the rest of its
 * shard on as a new part. Every part is claimed once, so a replayed or duplicated part posts nothing.
 */

import { PushlineError } from '../shared/errors.ts';
import { messageFrameText } from '../shared/message-frame.ts';
import type { PresenceFrame } from '../shared/protocol.ts';
import { BROADCAST_LOG } from '../shared/table-schema.ts';
import { AUDIENCE_SHARDS, MAX_TOPICS_PER_CONNECTION, topicMatches } from '../shared/topics.ts';
import { CONNECT_WINDOW_MS, type FramePoster } from './delivery.ts';
import { fanOut, settleBounded } from './fan-out.ts';
import { DEDUPE_WINDOW_SECONDS, type InboxStore } from './inbox.ts';
import { newSeq } from './seq.ts';

/** Who a topic or broadcast message is for. */
export type Audience = { readonly topic: string } | { readonly all: true };

/** One connection in an audience. */
export interface AudienceMember {
  readonly userId: string;
  readonly connectionId: string;
  /** Epoch milliseconds, when its `$connect` ran. */
  readonly connectedAt: number;
}

/** A subscription as `subscribe` writes it; it ends with its connection (`expiresAt`). */
export interface Subscription extends AudienceMember {
  readonly topic: string;
  /** Epoch seconds: the connection's own expiry. */
  readonly expiresAt: number;
}

/** One page of a shard's members, in connection-id order. */
export interface MemberPage {
  readonly members: readonly AudienceMember[];
  /** Set when more members may follow: the connection id to continue after. */
  readonly last?: string;
}

/** The audience rows, as topics and fan-out need them. */
export interface AudienceStore {
  /**
   * Writes a subscription unless the connection already holds `maxTopics` others ('full'); a
   * subscription that exists already is left as it is ('already').
   */
  subscribe(subscription: Subscription, maxTopics: number): Promise<'subscribed' | 'already' | 'full'>;
  /** Deletes a subscription (and frees its place under the cap); true when there was one. */
  unsubscribe(topic: string, userId: string, connectionId: string): Promise<boolean>;
  /** Members of one shard after `after` (strongly consistent; expired rows skipped). */
  members(
    audience: Audience,
    shard: number,
    options: { after?: string; limit: number; nowSeconds: number },
  ): Promise<MemberPage>;
  /** Deletes one member's row in an audience (after the gateway answered 410 for it). */
  remove(audience: Audience, member: AudienceMember): Promise<void>;
  /** Deletes every row of a connection (its connection row too); returns the topics it was subscribed to. */
  forget(userId: string, connectionId: string): Promise<{ topics: string[] }>;
  /** Adds a connection to a user's presence in a topic; true when it is the user's first. */
  join(topic: string, userId: string, connectionId: string, expiresAt: number): Promise<boolean>;
  /** Removes it; true when it was the user's last. */
  leave(topic: string, userId: string, connectionId: string): Promise<boolean>;
  /**
   * Claims one part for `owner`; false when another attempt has done it, or holds it and is not
   * older than `staleMs` (an attempt that died is taken over then).
   */
  claimPart(part: PartKey, owner: string, nowMs: number, staleMs: number): Promise<boolean>;
  /** Marks a claimed part done: it is never run again. */
  finishPart(part: PartKey): Promise<void>;
  /** Gives up the owner's claim (the attempt failed; the retry of its event runs the part again). */
  releasePart(part: PartKey, owner: string): Promise<void>;
}

/** What identifies a part. */
export interface PartKey {
  readonly messageId: string;
  readonly shard: number;
  /** The connection id the part starts after; absent for a shard's first part. */
  readonly after?: string;
}

/** One shard's share of a message (or the rest of it), as handed from invocation to invocation. */
export interface FanoutPart extends PartKey {
  readonly audience: Audience;
  /** The frame to post, as text. */
  readonly frame: string;
}

/** Hands parts on to fan-out invocations (the internal fan-out topic). */
export interface PartQueue {
  send(parts: readonly FanoutPart[]): Promise<void>;
}

/** A subscribe frame's topic is not one the user may join. */
export class TopicForbiddenError extends PushlineError {
  constructor(readonly topic: string) {
    super('FORBIDDEN', `You may not subscribe to topic "${topic}".`);
  }
}

/** A subscribe frame would take the connection past MAX_TOPICS_PER_CONNECTION. */
export class TooManyTopicsError extends PushlineError {
  constructor(readonly topic: string) {
    super(
      'TOO_MANY_TOPICS',
      `A connection may hold at most ${MAX_TOPICS_PER_CONNECTION} topics; unsubscribe from one before subscribing to "${topic}".`,
    );
  }
}

/** Who may join what, and which topics report presence: the deployer's rule. */
export interface TopicRules {
  /** Patterns every user may join (names, or prefixes ending in `*`). */
  readonly open: readonly string[];
  /** Patterns of presence topics. */
  readonly presence: readonly string[];
}

/** The parts of a message for an audience: one per shard. */
export function partsOf(messageId: string, audience: Audience, frame: string): FanoutPart[] {
  return Array.from({ length: AUDIENCE_SHARDS }, (_, shard) => ({ messageId, audience, shard, frame }));
}

/** One validated message for a topic or for everyone. */
export interface AudienceDelivery {
  readonly id: string;
  readonly audience: Audience;
  readonly type: string;
  readonly source?: string;
  /** Who sent it (a client `send`'s user, or what a service's envelope named). */
  readonly from?: string;
  readonly dataJson: string;
  /** Publish time, epoch ms. */
  readonly ts: number;
  readonly persist: boolean;
  readonly retentionSeconds: number;
}

/** The log a topic's (or the broadcasts') stored messages are kept in: its owner name in a log store. */
export function logName(audience: Audience): string {
  return 'topic' in audience ? audience.topic : BROADCAST_LOG;
}

/**
 * Stores a topic or broadcast message once in its log (or only its idempotency marker, without
 * `persist`), then hands its parts to the fan-out. A duplicate of a message another attempt has
 * handled does nothing; when handing on fails, the log row is given back so that the retry of the
 * event sends it.
 */
export async function publishToAudience(
  ports: { readonly log: InboxStore; readonly queue: PartQueue },
  message: AudienceDelivery,
  owner: string,
): Promise<'sent' | 'duplicate'> {
  const name = logName(message.audience);
  const nowMs = Date.now();
  const seq = message.persist ? newSeq(nowMs) : undefined;
  const outcome = await ports.log.claim(name, {
    id: message.id,
    seq,
    type: message.type,
    source: message.source,
    from: message.from,
    dataJson: message.dataJson,
    ts: message.ts,
    expiresAt:
      Math.floor(nowMs / 1000) + (message.persist ? message.retentionSeconds : DEDUPE_WINDOW_SECONDS),
    owner,
  });
  const mine =
    outcome.state === 'new' ||
    (outcome.state === 'released' && (await ports.log.takeOver(name, message.id, owner)));
  if (!mine) return 'duplicate';
  const frame = messageFrameText({
    id: message.id,
    seq: outcome.state === 'released' ? outcome.seq : seq,
    type: message.type,
    source: message.source,
    from: message.from,
    ts: message.ts,
    dataJson: message.dataJson,
    ...('topic' in message.audience ? { topic: message.audience.topic } : { broadcast: true }),
  });
  try {
    await ports.queue.send(partsOf(message.id, message.audience, frame));
  } catch (error) {
    await ports.log.release(name, message.id, owner);
    throw error;
  }
  return 'sent';
}

/** What one part's run did. */
export interface PartReport {
  /** Another attempt ran (or runs) this part: nothing was posted. */
  readonly duplicate: boolean;
  readonly delivered: number;
  /** Rows removed after a 410. */
  readonly gone: number;
  /** Posts that failed after their retries (logged; never retried, so no other connection gets a repeat). */
  readonly failed: number;
  /** The rest of the shard was handed on as a new part. */
  readonly handedOn: boolean;
}

/** Everything a part's run talks to. */
export interface FanoutPorts {
  readonly audience: AudienceStore;
  readonly queue: PartQueue;
  readonly poster: FramePoster;
  readonly warn: (message: string, details: Record<string, unknown>) => void;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** How one part runs. */
export interface FanoutOptions {
  readonly owner: string;
  /** Most connections this invocation posts to; the rest of the shard is handed on. */
  readonly maxConnections: number;
  /** Most posts per second this invocation makes. */
  readonly postsPerSecond: number;
  readonly postConcurrency: number;
  /** Members read per table page. @default 500 */
  readonly pageSize?: number;
  /** Epoch ms after which no new page is started: the rest is handed on. */
  readonly deadlineMs?: number;
  /** A claim older than this belongs to an attempt that died. */
  readonly staleMs: number;
}

/**
 * Runs one part: claims it, posts its frame to the members of its shard (paced, bounded, each
 * connection's outcome on its own), removes the rows of connections that are gone, and hands the
 * rest of the shard on when this invocation has done its share or its time is up.
 */
export async function runPart(
  ports: FanoutPorts,
  part: FanoutPart,
  options: FanoutOptions,
): Promise<PartReport> {
  if (!(await ports.audience.claimPart(part, options.owner, Date.now(), options.staleMs))) {
    return { duplicate: true, delivered: 0, gone: 0, failed: 0, handedOn: false };
  }
  const sleep = ports.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const pace = pacer(options.postsPerSecond, sleep);
  let after = part.after;
  let handled = 0;
  let delivered = 0;
  let gone = 0;
  let failed = 0;
  let handedOn = false;
  try {
    for (;;) {
      const outOfTime = options.deadlineMs !== undefined && Date.now() >= options.deadlineMs;
      if (handled >= options.maxConnections || outOfTime) {
        await ports.queue.send([{ ...part, after }]);
        handedOn = true;
        break;
      }
      const nowMs = Date.now();
      const page = await ports.audience.members(part.audience, part.shard, {
        after,
        limit: Math.min(options.pageSize ?? 500, options.maxConnections - handled),
        nowSeconds: Math.floor(nowMs / 1000),
      });
      const summary = await fanOut(
        page.members,
        async (member) => {
          await pace();
          return ports.poster.post(member.connectionId, part.frame);
        },
        options.postConcurrency,
      );
      delivered += summary.delivered;
      const stale: AudienceMember[] = [];
      for (const { target, outcome, error } of summary.outcomes) {
        if (outcome === 'failed') {
          failed++;
          ports.warn('Post failed after retries', { connectionId: target.connectionId, error });
        } else if (outcome === 'gone' && nowMs - target.connectedAt >= CONNECT_WINDOW_MS) {
          stale.push(target);
        }
      }
      await settleBounded(
        stale,
        async (member) => {
          try {
            await ports.audience.remove(part.audience, member);
            gone++;
          } catch (error) {
            ports.warn('Could not delete a gone audience row; its TTL will', {
              connectionId: member.connectionId,
              error,
            });
          }
        },
        8,
      );
      handled += page.members.length;
      if (page.last === undefined) break;
      after = page.last;
    }
  } catch (error) {
    // A table or queue failure: give the part back, so that the retry of this event runs it.
    await ports.audience.releasePart(part, options.owner).catch((releaseError: unknown) => {
      ports.warn('Could not give a part back; it is taken over once stale', { error: releaseError });
    });
    throw error;
  }
  await ports.audience.finishPart(part);
  return { duplicate: false, delivered, gone, failed, handedOn };
}

/** A function that resolves at most `perSecond` times a second (evenly spaced), for any number of callers. */
export function pacer(perSecond: number, sleep: (ms: number) => Promise<void>): () => Promise<void> {
  const interval = 1000 / perSecond;
  let nextAt = 0;
  return async () => {
    const now = Date.now();
    const at = Math.max(now, nextAt);
    nextAt = at + interval;
    if (at > now) await sleep(at - now);
  };
}

/** Everything subscribe, unsubscribe and the end of a connection talk to. */
export interface TopicPorts {
  readonly audience: AudienceStore;
  readonly queue: PartQueue;
  readonly rules: TopicRules;
}

/** The connection a topic request comes from. */
export interface Subscriber {
  readonly userId: string;
  readonly connectionId: string;
  readonly connectedAt: number;
  /** Epoch seconds: the connection's expiry. */
  readonly expiresAt: number;
  /** The patterns the user's token grants. */
  readonly grants: readonly string[];
}

/** Whether a topic reports presence. */
export function isPresenceTopic(rules: TopicRules, topic: string): boolean {
  return topicMatches(topic, rules.presence);
}

/**
 * Subscribes a connection to a topic, when the token's grants or the open topics allow it
 * (TopicForbiddenError otherwise) and the connection holds fewer than MAX_TOPICS_PER_CONNECTION
 * (TooManyTopicsError otherwise). On a presence topic, the user's first connection announces a join.
 */
export async function subscribe(
  ports: TopicPorts,
  who: Subscriber,
  topic: string,
): Promise<{ presence: boolean }> {
  if (!topicMatches(topic, who.grants) && !topicMatches(topic, ports.rules.open)) {
    throw new TopicForbiddenError(topic);
  }
  if ((await ports.audience.subscribe({ topic, ...who }, MAX_TOPICS_PER_CONNECTION)) === 'full') {
    throw new TooManyTopicsError(topic);
  }
  const presence = isPresenceTopic(ports.rules, topic);
  if (presence && (await ports.audience.join(topic, who.userId, who.connectionId, who.expiresAt))) {
    await announce(ports.queue, topic, who.userId, 'join');
  }
  return { presence };
}

/** Ends a subscription (none is not an error); the user's last connection leaving a presence topic is announced. */
export async function unsubscribe(
  ports: TopicPorts,
  who: Pick<Subscriber, 'userId' | 'connectionId'>,
  topic: string,
): Promise<void> {
  const removed = await ports.audience.unsubscribe(topic, who.userId, who.connectionId);
  if (removed) await leavePresence(ports, who, [topic]);
}

/** Deletes every audience row of a connection that ended, announcing the presence leaves it causes. */
export async function endConnection(
  ports: TopicPorts,
  who: Pick<Subscriber, 'userId' | 'connectionId'>,
): Promise<void> {
  const { topics } = await ports.audience.forget(who.userId, who.connectionId);
  await leavePresence(ports, who, topics);
}

async function leavePresence(
  ports: TopicPorts,
  who: Pick<Subscriber, 'userId' | 'connectionId'>,
  topics: readonly string[],
): Promise<void> {
  for (const topic of topics) {
    if (!isPresenceTopic(ports.rules, topic)) continue;
    if (await ports.audience.leave(topic, who.userId, who.connectionId)) {
      await announce(ports.queue, topic, who.userId, 'leave');
    }
  }
}

/** Sends a presence frame to a topic's subscribers (not stored: presence is live only). */
async function announce(
  queue: PartQueue,
  topic: string,
  user: string,
  state: 'join' | 'leave',
): Promise<void> {
  const frame: PresenceFrame = { kind: 'presence', topic, user, state, ts: Date.now() };
  await queue.send(partsOf(`presence-${crypto.randomUUID()}`, { topic }, JSON.stringify(frame)));
}
