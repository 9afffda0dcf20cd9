import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { PushlineError } from '../functions/shared/errors.ts';
import { type Preferences, preferencesOf } from '../functions/shared/preferences.ts';
import { KEY, TABLE_SCHEMA } from '../functions/shared/table-schema.ts';
import { AUDIENCE_SHARDS, topicNameProblem } from '../functions/shared/topics.ts';

/** Options of {@link Presence}. */
export interface PresenceOptions {
  /** Name of the Pushline table (the `TableName` stack output). */
  readonly tableName: string;
  /** A DynamoDB client; by default one from the standard AWS configuration. */
  readonly client?: DynamoDBClient;
  /** Queries run at once (one per user, or one per audience shard). @default 16 */
  readonly concurrency?: number;
}

/** Whether one user is online: at least one live, unexpired connection. */
export interface UserPresence {
  readonly user: string;
  readonly online: boolean;
  /** Open connections (devices, tabs) of the user. */
  readonly connections: number;
}

/** Who a topic (or the broadcast audience) reaches right now. */
export interface AudiencePresence {
  /** Live connections subscribed to the topic (for `{ all: true }`: every live connection). */
  readonly connections: number;
  /** How many different users those connections belong to. */
  readonly userCount: number;
  /** The users, sorted; at most `maxUsers` of them (see `truncated`). */
  readonly users: readonly string[];
  /** True when there were more than `maxUsers` users and `users` holds only the first ones. */
  readonly truncated: boolean;
}

/** What one user mutes, as the table holds it now. */
export interface UserPreferences extends Preferences {
  readonly user: string;
}

/** A presence question the library cannot ask (bad topic name, empty user id). */
export class InvalidPresenceQueryError extends PushlineError {
  constructor(message: string) {
    super('INVALID_QUERY', message);
  }
}

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;
const EXPIRES = TABLE_SCHEMA.ttlAttribute;

/**
 * Reads who is online from the Pushline table, for services: which users have a live connection,
 * and who a topic reaches. Every answer is a strongly consistent Query (one per user; sixteen, one
 * per shard, for an audience), never a Scan. Needs `dynamodb:Query` on the table
 * (`pushline.grantPresenceRead(role)`).
 *
 * A connection counts from its `$connect` until its `$disconnect`, or until its row expires when
 * API Gateway never reported the end (a network gone without a close frame, which API Gateway
 * notices within about ten minutes).
 */
export class Presence {
  private readonly dynamo: DynamoDBDocumentClient;
  private readonly concurrency: number;

  constructor(private readonly options: PresenceOptions) {
    if (options.tableName.trim() === '') throw new InvalidPresenceQueryError('tableName is required');
    this.dynamo = DynamoDBDocumentClient.from(options.client ?? new DynamoDBClient({}));
    this.concurrency = options.concurrency ?? 16;
  }

  /** For each user, in the order given, whether they are online and on how many connections. */
  async online(users: readonly string[]): Promise<UserPresence[]> {
    checkUsers(users);
    const nowSeconds = Math.floor(Date.now() / 1000);
    return inBatches(users, this.concurrency, async (user) => {
      const connections = await this.count({
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :conn)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK, '#exp': EXPIRES },
        ExpressionAttributeValues: {
          ':pk': KEY.user(user),
          ':conn': KEY.connectionPrefix,
          ':now': nowSeconds,
        },
      });
      return { user, online: connections > 0, connections };
    });
  }

  /**
   * Who a topic reaches now (`{ topic: 'news' }`), or every live connection (`{ all: true }`).
   * Reads every row of the audience: for a broadcast that is one read unit per 4 KB of rows
   * (roughly forty connections), so ask it sparingly of large deployments.
   */
  async audience(
    target: { readonly topic: string } | { readonly all: true },
    options: { readonly maxUsers?: number } = {},
  ): Promise<AudiencePresence> {
    if ('topic' in target) {
      const problem = topicNameProblem(target.topic);
      if (problem !== undefined) throw new InvalidPresenceQueryError(problem);
    }
    const maxUsers = options.maxUsers ?? 1000;
    const nowSeconds = Math.floor(Date.now() / 1000);
    const shards = Array.from({ length: AUDIENCE_SHARDS }, (_, shard) => shard);
    let connections = 0;
    const users = new Set<string>();
    await inBatches(shards, this.concurrency, async (shard) => {
      const pk = 'topic' in target ? KEY.topicShard(target.topic, shard) : KEY.broadcastShard(shard);
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.dynamo.send(
          new QueryCommand({
            TableName: this.options.tableName,
            ConsistentRead: true,
            KeyConditionExpression: '#pk = :pk',
            FilterExpression: '#exp > :now',
            ProjectionExpression: 'userId',
            ExpressionAttributeNames: { '#pk': PK, '#exp': EXPIRES },
            ExpressionAttributeValues: { ':pk': pk, ':now': nowSeconds },
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          connections += 1;
          if (typeof item.userId === 'string') users.add(item.userId);
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    });
    const sorted = [...users].sort();
    return {
      connections,
      userCount: sorted.length,
      users: sorted.slice(0, maxUsers),
      truncated: sorted.length > maxUsers,
    };
  }

  /**
   * For each user, in the order given, the message types and sources they mute (`version` 0: never
   * set). One strongly consistent Query per user, on the user's preferences row only.
   */
  async preferences(users: readonly string[]): Promise<UserPreferences[]> {
    checkUsers(users);
    return inBatches(users, this.concurrency, async (user) => {
      const page = await this.dynamo.send(
        new QueryCommand({
          TableName: this.options.tableName,
          ConsistentRead: true,
          KeyConditionExpression: '#pk = :pk AND #sk = :prefs',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': KEY.user(user), ':prefs': KEY.preferences },
        }),
      );
      return { user, ...preferencesOf(page.Items?.[0]) };
    });
  }

  /** Counts the live rows a Query finds, over every page. */
  private async count(query: Omit<QueryCommandInput, 'TableName'>): Promise<number> {
    let total = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.dynamo.send(
        new QueryCommand({
          TableName: this.options.tableName,
          ConsistentRead: true,
          Select: 'COUNT',
          FilterExpression: '#exp > :now',
          ...query,
          ExclusiveStartKey: startKey,
        }),
      );
      total += page.Count ?? 0;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return total;
  }
}

/** Refuses a user id that is not a non-empty string. */
function checkUsers(users: readonly string[]): void {
  for (const user of users) {
    if (typeof user !== 'string' || user === '')
      throw new InvalidPresenceQueryError('user ids must be non-empty strings');
  }
}

/** Maps items through `work`, at most `size` at a time, keeping their order. */
async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  }
  return results;
}
