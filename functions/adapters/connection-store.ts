import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionDirectory } from '../domain/delivery.ts';
import { type Preferences, preferencesOf } from '../shared/preferences.ts';
import { KEY, TABLE_SCHEMA } from '../shared/table-schema.ts';
import { shardOf } from '../shared/topics.ts';
import { dynamo } from './dynamo-client.ts';

/** One open WebSocket connection of a user. */
export interface ConnectionRecord {
  readonly userId: string;
  readonly connectionId: string;
  /** Epoch milliseconds. */
  readonly connectedAt: number;
  readonly sourceIp?: string;
  readonly userAgent?: string;
  /** Epoch seconds after which the row is dead even if TTL has not deleted it yet. */
  readonly expiresAt: number;
}

/**
 * The two rows of a connection, as `$connect` writes them: the connection row in the user's
 * partition and its broadcast row (the connection's entry in the audience of `to: {all: true}`, in
 * one of the sharded `ALL#` partitions). Benchmarks that seed many connections write these.
 */
export function connectionRows(record: ConnectionRecord): Record<string, unknown>[] {
  const sortKey = { [TABLE_SCHEMA.sortKey]: KEY.connection(record.connectionId) };
  return [
    { [TABLE_SCHEMA.partitionKey]: KEY.user(record.userId), ...record, ...sortKey },
    {
      [TABLE_SCHEMA.partitionKey]: KEY.broadcastShard(shardOf(record.connectionId)),
      userId: record.userId,
      connectionId: record.connectionId,
      connectedAt: record.connectedAt,
      expiresAt: record.expiresAt,
      ...sortKey,
    },
  ];
}

/** Writes the connection row and its broadcast row ({@link connectionRows}). Idempotent. */
export async function putConnection(tableName: string, record: ConnectionRecord): Promise<void> {
  await Promise.all(
    connectionRows(record).map((row) => dynamo.send(new PutCommand({ TableName: tableName, Item: row }))),
  );
}

/** Deletes exactly one connection's row and its broadcast row; missing rows are not an error. */
export async function deleteConnection(
  tableName: string,
  userId: string,
  connectionId: string,
): Promise<void> {
  await Promise.all(
    [KEY.user(userId), KEY.broadcastShard(shardOf(connectionId))].map((pk) =>
      dynamo.send(
        new DeleteCommand({
          TableName: tableName,
          Key: { [TABLE_SCHEMA.partitionKey]: pk, [TABLE_SCHEMA.sortKey]: KEY.connection(connectionId) },
        }),
      ),
    ),
  );
}

/** Finds the user owning a connection through the byConnection index (for `$disconnect` without context). */
export async function findConnectionOwner(
  tableName: string,
  connectionId: string,
): Promise<string | undefined> {
  const index = TABLE_SCHEMA.indexes.byConnection;
  const result = await dynamo.send(
    new QueryCommand({
      TableName: tableName,
      IndexName: index.name,
      KeyConditionExpression: '#c = :c',
      ExpressionAttributeNames: { '#c': index.partitionKey },
      ExpressionAttributeValues: { ':c': connectionId },
      Limit: 1,
    }),
  );
  const owner = result.Items?.[0]?.userId;
  return typeof owner === 'string' ? owner : undefined;
}

/**
 * Lists a user's live connections with a Query on the user's partition, strongly consistent: the
 * deliver function reads them right after storing a message, and must see every row written before
 * (see deliver in domain/delivery.ts). Rows past `expiresAt` are skipped: TTL deletes them only
 * eventually.
 */
export async function listUserConnections(
  tableName: string,
  userId: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Promise<ConnectionRecord[]> {
  const connections: ConnectionRecord[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :conn)',
        FilterExpression: '#exp > :now',
        ExpressionAttributeNames: {
          '#pk': TABLE_SCHEMA.partitionKey,
          '#sk': TABLE_SCHEMA.sortKey,
          '#exp': TABLE_SCHEMA.ttlAttribute,
        },
        ExpressionAttributeValues: {
          ':pk': KEY.user(userId),
          ':conn': KEY.connectionPrefix,
          ':now': nowSeconds,
        },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) connections.push(item as ConnectionRecord);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return connections;
}

/**
 * A user's live connections and preferences, in one strongly consistent Query: the preferences row
 * sorts right after the connection rows (see table-schema.ts), so it costs no request of its own.
 */
export async function listRecipient(
  tableName: string,
  userId: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): Promise<{ connections: ConnectionRecord[]; preferences?: Preferences }> {
  const connections: ConnectionRecord[] = [];
  let preferences: Preferences | undefined;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        ConsistentRead: true,
        // A filter cannot name the sort key, so expired connection rows are skipped below.
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :conn AND :prefs',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
        ExpressionAttributeValues: {
          ':pk': KEY.user(userId),
          ':conn': KEY.connectionPrefix,
          ':prefs': KEY.preferences,
        },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      if (item[TABLE_SCHEMA.sortKey] === KEY.preferences) preferences = preferencesOf(item);
      else if (Number(item[TABLE_SCHEMA.ttlAttribute]) > nowSeconds)
        connections.push(item as ConnectionRecord);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return preferences === undefined ? { connections } : { connections, preferences };
}

/** The connection table as the delivery sequence sees it. */
export function createConnectionDirectory(tableName: string): ConnectionDirectory {
  return {
    list: (userId) => listUserConnections(tableName, userId),
    recipient: (userId) => listRecipient(tableName, userId),
    prune: (userId, connectionId) => deleteConnection(tableName, userId, connectionId),
  };
}
