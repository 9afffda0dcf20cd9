/**
 * Topic names, the patterns that grant them, and the shards that spread an audience over several
 * partitions. Shared by the handlers, the publisher library, the CLI and the client SDK (no runtime
 * dependency).
 */

/** The token claim listing the topics a user may subscribe to, unless the deployer names another. */
export const DEFAULT_TOPIC_CLAIM = 'topics';

/** Longest topic name. */
export const MAX_TOPIC_LENGTH = 128;

/** Topic names: letters, digits and `_ . : / @ -`; no `#` (the table's key separator) and no `*`. */
export const TOPIC_PATTERN = /^[A-Za-z0-9_.:/@-]+$/;

/**
 * Partitions each topic's subscriptions (and the broadcast audience) are spread over. Fixed: rows
 * written under one count are not found under another, so changing it needs a new table.
 */
export const AUDIENCE_SHARDS = 16;

/** Why a topic name is refused, or undefined when it is valid. */
export function topicNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'a topic name must be a string';
  if (name.length === 0) return 'a topic name must not be empty';
  if (name.length > MAX_TOPIC_LENGTH) return `a topic name must be at most ${MAX_TOPIC_LENGTH} characters`;
  if (!TOPIC_PATTERN.test(name)) {
    return `topic "${name.slice(0, 64)}" may contain only letters, digits and _ . : / @ -`;
  }
  return undefined;
}

/**
 * Whether a topic matches one of the patterns: a pattern is a topic name, or a prefix ending in
 * `*` (`news.*` matches `news.sport`; `*` alone matches every topic).
 */
export function topicMatches(topic: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? topic.startsWith(pattern.slice(0, -1)) : topic === pattern,
  );
}

/** Why a pattern is refused (as in a token's `topics` claim), or undefined when it is valid. */
export function topicPatternProblem(pattern: string): string | undefined {
  if (pattern === '*') return undefined;
  return topicNameProblem(pattern.endsWith('*') ? pattern.slice(0, -1) || 'x' : pattern);
}

/**
 * Topics one connection may be subscribed to at once. Each subscription is a row that `$disconnect`
 * deletes, so the cap bounds that work and what one client can make the table hold.
 */
export const MAX_TOPICS_PER_CONNECTION = 100;

/** The shard (0 .. AUDIENCE_SHARDS-1) a connection's audience rows live in: FNV-1a of its id. */
export function shardOf(connectionId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i++) {
    hash ^= connectionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % AUDIENCE_SHARDS;
}

/** A backend service's name, as a client's `send` addresses it (`to: { service }`). */
export const SERVICE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
