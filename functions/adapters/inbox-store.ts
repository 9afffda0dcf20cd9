import {
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { ClaimOutcome, InboxStore, StoredMessage, UnreadCounts } from '../domain/inbox.ts';
import { DEFAULT_SOURCE } from '../shared/protocol.ts';
import { KEY, TABLE_SCHEMA } from '../shared/table-schema.ts';
import { dynamo, isConditionFailed } from './dynamo-client.ts';

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;
const EXPIRES = TABLE_SCHEMA.ttlAttribute;
const BY_SEQ = TABLE_SCHEMA.localIndexes.bySeq;
const UNREAD = TABLE_SCHEMA.localIndexes.unread;

/** Items per unread-index page when counting: more than a 1 MB page of its small entries holds. */
const UNREAD_PAGE_LIMIT = 100_000;

/** Most unread-index pages one count reads: counts are exact up to about 100,000 unread messages. */
const UNREAD_MAX_QUERIES = 10;

/** Where a store keeps its messages: users' inboxes, or topics' logs. */
export interface InboxStoreOptions {
  /** The partition key of an owner's messages. @default KEY.user */
  readonly partition?: (owner: string) => string;
  /** Whether stored messages enter the unread index (topic logs have no unread counts). @default true */
  readonly countsUnread?: boolean;
}

/** Runs a conditional update; false (not an error) when its condition did not hold. */
async function updateIf(input: UpdateCommandInput): Promise<boolean> {
  try {
    await dynamo.send(new UpdateCommand(input));
    return true;
  } catch (error) {
    if (isConditionFailed(error)) return false;
    throw error;
  }
}

/**
 * The inbox of every user in the single table (see table-schema.ts for the row shape). Every read
 * the ordering argument of delivery depends on is strongly consistent: the local indexes allow it.
 */
export function createInboxStore(tableName: string, options: InboxStoreOptions = {}): InboxStore {
  const partition = options.partition ?? KEY.user;
  const countsUnread = options.countsUnread ?? true;
  const key = (owner: string, messageId: string) => ({
    [PK]: partition(owner),
    [SK]: KEY.message(messageId),
  });

  /** The existing row after a failed conditional put (DynamoDB Local and AWS return it; dynalite not). */
  const existingRow = async (error: unknown, userId: string, messageId: string) => {
    const returned = (error as { Item?: Record<string, unknown> }).Item;
    if (returned !== undefined) return unmarshallState(returned);
    const result = await dynamo.send(
      new GetCommand({
        TableName: tableName,
        Key: key(userId, messageId),
        ConsistentRead: true,
        ProjectionExpression: '#state, #owner, #seq',
        ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner', '#seq': 'seq' },
      }),
    );
    return result.Item === undefined ? undefined : unmarshallState(result.Item);
  };

  const store: InboxStore = {
    async claim(userId, row): Promise<ClaimOutcome> {
      const stored = row.seq !== undefined;
      try {
        await dynamo.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              ...key(userId, row.id),
              id: row.id,
              type: row.type,
              ...(row.source !== undefined ? { source: row.source } : {}),
              ...(row.from !== undefined ? { from: row.from } : {}),
              ts: row.ts,
              state: 'claimed',
              owner: row.owner,
              [EXPIRES]: row.expiresAt,
              // Only a stored message carries the index keys (and its data): a marker is in no index.
              ...(stored ? { seq: row.seq, data: row.dataJson } : {}),
              ...(stored && row.readAt !== undefined ? { readAt: row.readAt } : {}),
              ...(stored && countsUnread && row.readAt === undefined ? { unread: row.seq } : {}),
            },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return { state: 'new' };
      } catch (error) {
        if (!isConditionFailed(error)) throw error;
        const existing = await existingRow(error, userId, row.id);
        if (existing === undefined) throw new Error(`The row of message ${row.id} vanished; retry`);
        // Our own put, answered late and retried by the SDK, fails its condition on our own row.
        if (existing.state === 'claimed' && existing.owner === row.owner) return { state: 'new' };
        if (existing.state === 'retry') return { state: 'released', seq: existing.seq };
        return { state: 'handled' };
      }
    },

    takeOver: (userId, messageId, owner) =>
      updateIf({
        TableName: tableName,
        Key: key(userId, messageId),
        UpdateExpression: 'SET #state = :claimed, #owner = :owner',
        ConditionExpression: '#state = :retry',
        ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
        ExpressionAttributeValues: { ':claimed': 'claimed', ':retry': 'retry', ':owner': owner },
      }),

    async release(userId, messageId, owner) {
      // Not ours (or never written): nothing to hand back.
      await updateIf({
        TableName: tableName,
        Key: key(userId, messageId),
        UpdateExpression: 'SET #state = :retry',
        ConditionExpression: '#state = :claimed AND #owner = :owner',
        ExpressionAttributeNames: { '#state': 'state', '#owner': 'owner' },
        ExpressionAttributeValues: { ':claimed': 'claimed', ':retry': 'retry', ':owner': owner },
      });
    },

    async unread(userId, nowMs) {
      // The version is taken before the read: a read started later sees every change this one saw.
      const counts: UnreadCounts = { total: 0, bySource: {}, version: nowMs };
      let startKey: Record<string, unknown> | undefined;
      for (let query = 0; query < UNREAD_MAX_QUERIES; query++) {
        // No item limit: DynamoDB ends each page at 1 MB of index entries.
        const page = await store.unreadPage(userId, {
          limit: UNREAD_PAGE_LIMIT,
          nowSeconds: Math.floor(nowMs / 1000),
          startKey,
        });
        for (const { source } of page.messages) {
          counts.total++;
          counts.bySource[source] = (counts.bySource[source] ?? 0) + 1;
        }
        startKey = page.nextKey;
        if (startKey === undefined) break;
      }
      return counts;
    },

    markRead: (userId, messageId, readAt) =>
      updateIf({
        TableName: tableName,
        Key: key(userId, messageId),
        UpdateExpression: 'SET readAt = :now REMOVE #unread',
        ConditionExpression: 'attribute_exists(#unread)',
        ExpressionAttributeNames: { '#unread': UNREAD.sortKey },
        ExpressionAttributeValues: { ':now': readAt },
      }),

    async unreadPage(userId, options) {
      const result = await dynamo.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: UNREAD.name,
          ConsistentRead: true,
          KeyConditionExpression: '#pk = :pk',
          // TTL deletes expired rows only eventually: they stop counting at once.
          FilterExpression: '#exp > :now',
          ExpressionAttributeNames: { '#pk': PK, '#exp': EXPIRES },
          ExpressionAttributeValues: { ':pk': partition(userId), ':now': options.nowSeconds },
          Limit: options.limit,
          ExclusiveStartKey: options.startKey,
        }),
      );
      const messages = (result.Items ?? []).map((item) => ({
        id: String(item[SK]).slice(KEY.messagePrefix.length),
        source: typeof item.source === 'string' ? item.source : DEFAULT_SOURCE,
      }));
      return { messages, nextKey: result.LastEvaluatedKey };
    },

    async page(userId, options) {
      const forward = options.fromSeq !== undefined;
      // Every seq sorts between '0' and '~' (DynamoDB refuses an empty string as a key value).
      const from = forward ? (options.fromSeq ?? '0') : '0';
      const to = !forward && options.beforeSeq !== undefined ? options.beforeSeq : '~';
      const result = await dynamo.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: BY_SEQ.name,
          // A resume must see every message stored before it (see deliver in domain/delivery.ts).
          ConsistentRead: true,
          KeyConditionExpression: '#pk = :pk AND #seq BETWEEN :from AND :to',
          FilterExpression: '#exp > :now',
          ExpressionAttributeNames: { '#pk': PK, '#seq': BY_SEQ.sortKey, '#exp': EXPIRES },
          ExpressionAttributeValues: {
            ':pk': partition(userId),
            ':now': options.nowSeconds,
            ':from': from,
            ':to': to,
          },
          ScanIndexForward: forward,
          Limit: options.limit,
          ExclusiveStartKey: options.startKey,
        }),
      );
      return { messages: (result.Items ?? []).map(toStoredMessage), nextKey: result.LastEvaluatedKey };
    },

    async exists(userId, seq, nowSeconds) {
      const result = await dynamo.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: BY_SEQ.name,
          ConsistentRead: true,
          KeyConditionExpression: '#pk = :pk AND #seq = :seq',
          ExpressionAttributeNames: { '#pk': PK, '#seq': BY_SEQ.sortKey },
          ExpressionAttributeValues: { ':pk': partition(userId), ':seq': seq },
        }),
      );
      const expiresAt = result.Items?.[0]?.[EXPIRES];
      return typeof expiresAt === 'number' && expiresAt > nowSeconds;
    },
  };
  return store;
}

function unmarshallState(item: Record<string, unknown>): { state: string; owner: string; seq?: string } {
  // A row returned with the failed condition is in DynamoDB's attribute-value form.
  const plain = (value: unknown) =>
    value !== null && typeof value === 'object' && 'S' in value ? (value as { S: string }).S : value;
  const seq = plain(item.seq);
  return {
    state: String(plain(item.state)),
    owner: String(plain(item.owner)),
    ...(typeof seq === 'string' ? { seq } : {}),
  };
}

function toStoredMessage(item: Record<string, unknown>): StoredMessage {
  return {
    seq: String(item.seq),
    id: String(item.id),
    type: String(item.type),
    source: typeof item.source === 'string' ? item.source : undefined,
    from: typeof item.from === 'string' ? item.from : undefined,
    dataJson: typeof item.data === 'string' ? item.data : 'null',
    ts: Number(item.ts),
    expiresAt: Number(item[EXPIRES]),
    readAt: typeof item.readAt === 'number' ? item.readAt : undefined,
  };
}
