import {
  DeleteCommand,
  type DeleteCommandInput,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Audience, AudienceStore, PartKey } from '../domain/audience.ts';
import { DEDUPE_WINDOW_SECONDS } from '../domain/inbox.ts';
import { KEY, TABLE_SCHEMA } from '../shared/table-schema.ts';
import { shardOf } from '../shared/topics.ts';
import { dynamo, isConditionFailed } from './dynamo-client.ts';

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;
const EXPIRES = TABLE_SCHEMA.ttlAttribute;

/** The partition of one shard of an audience. */
export function audienceShardKey(audience: Audience, shard: number): string {
  return 'topic' in audience ? KEY.topicShard(audience.topic, shard) : KEY.broadcastShard(shard);
}

/** The attribute of the connection row counting its subscriptions (against the cap). */
const TOPIC_COUNT = 'topicCount';

const connectionRowKey = (userId: string, connectionId: string) => ({
  [PK]: KEY.user(userId),
  [SK]: KEY.connection(connectionId),
});

const partKey = (part: PartKey) => ({
  [PK]: KEY.fanout(part.messageId),
  [SK]: KEY.fanoutPart(part.shard, part.after ?? ''),
});

/** The audience rows in the single table (see table-schema.ts for their shapes). */
export function createAudienceStore(tableName: string): AudienceStore {
  /** Runs a conditional write; false (not an error) when its condition did not hold. */
  const writeIf = async (command: PutCommand | DeleteCommand | UpdateCommand): Promise<boolean> => {
    try {
      await (command instanceof PutCommand
        ? dynamo.send(command)
        : command instanceof DeleteCommand
          ? dynamo.send(command)
          : dynamo.send(command));
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  };
  const remove = (input: Omit<DeleteCommandInput, 'TableName'>) =>
    dynamo.send(new DeleteCommand({ TableName: tableName, ...input }));

  return {
    async subscribe(subscription, maxTopics) {
      const key = {
        [PK]: KEY.topicShard(subscription.topic, shardOf(subscription.connectionId)),
        [SK]: KEY.connection(subscription.connectionId),
      };
      const written = await writeIf(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...key,
            topic: subscription.topic,
            connectionId: subscription.connectionId,
            userId: subscription.userId,
            connectedAt: subscription.connectedAt,
            [EXPIRES]: subscription.expiresAt,
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      if (!written) return 'already';
      // Count it on the connection row, within the cap. The row must exist: an update must never
      // create a connection row of its own (delivery would take it for a connection).
      const connectionRow = connectionRowKey(subscription.userId, subscription.connectionId);
      const counted = await writeIf(
        new UpdateCommand({
          TableName: tableName,
          Key: connectionRow,
          UpdateExpression: 'ADD #count :one',
          ConditionExpression: 'attribute_exists(#pk) AND (attribute_not_exists(#count) OR #count < :max)',
          ExpressionAttributeNames: { '#pk': PK, '#count': TOPIC_COUNT },
          ExpressionAttributeValues: { ':one': 1, ':max': maxTopics },
        }),
      );
      if (counted) return 'subscribed';
      // Refused: at the cap, or the connection row is gone (the connection is ending; its
      // `$disconnect` deletes the subscription with the rest).
      const row = await dynamo.send(
        new GetCommand({ TableName: tableName, Key: connectionRow, ConsistentRead: true }),
      );
      if (row.Item === undefined) return 'subscribed';
      await remove({ Key: key });
      return 'full';
    },

    async unsubscribe(topic, userId, connectionId) {
      const result = await remove({
        Key: { [PK]: KEY.topicShard(topic, shardOf(connectionId)), [SK]: KEY.connection(connectionId) },
        ReturnValues: 'ALL_OLD',
      });
      if (result.Attributes === undefined) return false;
      await dynamo
        .send(
          new UpdateCommand({
            TableName: tableName,
            Key: connectionRowKey(userId, connectionId),
            UpdateExpression: 'ADD #count :minus',
            ConditionExpression: '#count > :zero', // false too when the row is gone: nothing is created
            ExpressionAttributeNames: { '#count': TOPIC_COUNT },
            ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
          }),
        )
        .catch((error: unknown) => {
          if (!isConditionFailed(error)) throw error; // the connection row is gone: nothing to count
        });
      return true;
    },

    async members(audience, shard, options) {
      const result = await dynamo.send(
        new QueryCommand({
          TableName: tableName,
          ConsistentRead: true,
          KeyConditionExpression: '#pk = :pk',
          FilterExpression: '#exp > :now',
          ProjectionExpression: 'userId, connectionId, connectedAt',
          ExpressionAttributeNames: { '#pk': PK, '#exp': EXPIRES },
          ExpressionAttributeValues: { ':pk': audienceShardKey(audience, shard), ':now': options.nowSeconds },
          Limit: options.limit,
          ...(options.after !== undefined
            ? {
                ExclusiveStartKey: {
                  [PK]: audienceShardKey(audience, shard),
                  [SK]: KEY.connection(options.after),
                },
              }
            : {}),
        }),
      );
      const members = (result.Items ?? []).map((item) => ({
        userId: String(item.userId),
        connectionId: String(item.connectionId),
        connectedAt: typeof item.connectedAt === 'number' ? item.connectedAt : 0,
      }));
      const lastKey = result.LastEvaluatedKey?.[SK];
      return typeof lastKey === 'string'
        ? { members, last: lastKey.slice(KEY.connectionPrefix.length) }
        : { members };
    },

    async remove(audience, member) {
      await remove({
        Key: {
          [PK]: audienceShardKey(audience, shardOf(member.connectionId)),
          [SK]: KEY.connection(member.connectionId),
        },
      });
    },

    async forget(userId, connectionId) {
      // The index finds the subscriptions (it is eventually consistent: one written a moment ago
      // may be missed, and then ends at its expiry or at the first post that answers 410).
      const index = TABLE_SCHEMA.indexes.byConnection;
      const rows: Record<string, unknown>[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await dynamo.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: index.name,
            KeyConditionExpression: '#c = :c',
            ExpressionAttributeNames: { '#c': index.partitionKey },
            ExpressionAttributeValues: { ':c': connectionId },
            ExclusiveStartKey: startKey,
          }),
        );
        rows.push(...(page.Items ?? []));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      const topics = rows.flatMap((row) => (typeof row.topic === 'string' ? [row.topic] : []));
      // The connection and broadcast rows' keys are known, so they go even when the index lags.
      const keys = new Map<string, Record<string, unknown>>();
      for (const pk of [KEY.user(userId), KEY.broadcastShard(shardOf(connectionId))]) {
        keys.set(pk, { [PK]: pk, [SK]: KEY.connection(connectionId) });
      }
      for (const row of rows) keys.set(String(row[PK]), { [PK]: row[PK], [SK]: row[SK] });
      await Promise.all([...keys.values()].map((key) => remove({ Key: key })));
      return { topics: [...new Set(topics)] };
    },

    async join(topic, userId, connectionId, expiresAt) {
      const result = await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { [PK]: KEY.presence(topic), [SK]: KEY.user(userId) },
          UpdateExpression: 'ADD conns :c SET #exp = :exp, userId = :u',
          ExpressionAttributeNames: { '#exp': EXPIRES },
          ExpressionAttributeValues: { ':c': new Set([connectionId]), ':exp': expiresAt, ':u': userId },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      const before = result.Attributes?.conns as Set<string> | undefined;
      return before === undefined || before.size === 0;
    },

    async leave(topic, userId, connectionId) {
      const result = await dynamo
        .send(
          new UpdateCommand({
            TableName: tableName,
            Key: { [PK]: KEY.presence(topic), [SK]: KEY.user(userId) },
            UpdateExpression: 'DELETE conns :c',
            ConditionExpression: 'contains(conns, :id)',
            ExpressionAttributeValues: { ':c': new Set([connectionId]), ':id': connectionId },
            ReturnValues: 'ALL_NEW',
          }),
        )
        .catch((error: unknown) => {
          if (isConditionFailed(error)) return undefined; // not present: no leave to announce
          throw error;
        });
      if (result === undefined) return false;
      const after = result.Attributes?.conns as Set<string> | undefined;
      return after === undefined || after.size === 0;
    },

    claimPart(part, owner, nowMs, staleMs) {
      return writeIf(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...partKey(part),
            state: 'claimed',
            owner,
            claimedAt: nowMs,
            [EXPIRES]: Math.floor(nowMs / 1000) + DEDUPE_WINDOW_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(#pk) OR (#state = :claimed AND #at < :stale)',
          ExpressionAttributeNames: { '#pk': PK, '#state': 'state', '#at': 'claimedAt' },
          ExpressionAttributeValues: { ':claimed': 'claimed', ':stale': nowMs - staleMs },
        }),
      );
    },

    async finishPart(part) {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: partKey(part),
          UpdateExpression: 'SET #state = :done',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':done': 'done' },
        }),
      );
    },

    async releasePart(part, owner) {
      await writeIf(
        new DeleteCommand({
          TableName: tableName,
          Key: partKey(part),
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    },
  };
}
