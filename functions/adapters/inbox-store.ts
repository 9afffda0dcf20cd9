import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { DeliveryState, InboxStore, Marker, StoredMessage, UnreadCounts } from '../domain/inbox.ts';
import { DEFAULT_SOURCE } from '../shared/protocol.ts';
import { KEY, TABLE_SCHEMA } from '../shared/table-schema.ts';
import { dynamo, isConditionFailed } from './dynamo-client.ts';

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;
const EXPIRES = TABLE_SCHEMA.ttlAttribute;
const SOURCE_PREFIX = 'u#';

const key = (userId: string, sk: string) => ({ [PK]: KEY.user(userId), [SK]: sk });

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

/** The inbox of every user in the single table (see table-schema.ts for the row shapes). */
export function createInboxStore(tableName: string): InboxStore {
  const readMarker = async (userId: string, messageId: string): Promise<Marker | undefined> => {
    const result = await dynamo.send(
      new GetCommand({
        TableName: tableName,
        Key: key(userId, KEY.messageId(messageId)),
        ConsistentRead: true,
      }),
    );
    const item = result.Item;
    if (item === undefined) return undefined;
    return {
      state: item.state as DeliveryState,
      seq: String(item.seq),
      leaseUntil: typeof item.leaseUntil === 'number' ? item.leaseUntil : 0,
    };
  };

  /** Sets `readAt` on a stored message once; the source for the one caller that did, else undefined. */
  const markStoredRead = async (userId: string, seq: string, readAt: number) => {
    try {
      const result = await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(userId, KEY.message(seq)),
          UpdateExpression: 'SET readAt = :now',
          ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(readAt)',
          ExpressionAttributeNames: { '#pk': PK },
          ExpressionAttributeValues: { ':now': readAt },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const source = result.Attributes?.source;
      return { source: typeof source === 'string' ? source : DEFAULT_SOURCE };
    } catch (error) {
      if (isConditionFailed(error)) return undefined;
      throw error;
    }
  };

  return {
    async claim(userId, messageId, seq, expiresAt, leaseUntil, initialState) {
      try {
        await dynamo.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              ...key(userId, KEY.messageId(messageId)),
              seq,
              state: initialState,
              leaseUntil,
              [EXPIRES]: expiresAt,
            },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          }),
        );
        return { state: 'new', seq, leaseUntil };
      } catch (error) {
        if (!isConditionFailed(error)) throw error;
      }
      return (await readMarker(userId, messageId)) ?? { state: 'claimed', seq, leaseUntil: 0 };
    },

    marker: readMarker,

    async takeLease(userId, messageId, seen, leaseUntil) {
      return updateIf({
        TableName: tableName,
        Key: key(userId, KEY.messageId(messageId)),
        UpdateExpression: 'SET leaseUntil = :until',
        ConditionExpression: '#state = :state AND leaseUntil = :seen',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':until': leaseUntil,
          ':state': seen.state,
          ':seen': seen.leaseUntil,
        },
      });
    },

    async reassignSeq(userId, messageId, oldSeq, newSeq) {
      return updateIf({
        TableName: tableName,
        Key: key(userId, KEY.messageId(messageId)),
        UpdateExpression: 'SET seq = :new',
        ConditionExpression: '#state = :claimed AND seq = :old',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':new': newSeq, ':old': oldSeq, ':claimed': 'claimed' },
      });
    },

    async putMessage(userId, message) {
      await dynamo.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...key(userId, KEY.message(message.seq)), ...message },
        }),
      );
    },

    async deleteMessage(userId, seq) {
      await dynamo.send(new DeleteCommand({ TableName: tableName, Key: key(userId, KEY.message(seq)) }));
    },

    async advance(userId, messageId, from, to) {
      return updateIf({
        TableName: tableName,
        Key: key(userId, KEY.messageId(messageId)),
        UpdateExpression: 'SET #state = :to',
        ConditionExpression: '#state = :from',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':from': from, ':to': to },
      });
    },

    async addUnread(userId, source, delta) {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key(userId, KEY.unread),
          // `version` counts the changes, so that a client can tell the newest counts from older ones.
          UpdateExpression: 'ADD #total :d, #source :d, #version :one',
          ExpressionAttributeNames: {
            '#total': 'total',
            '#source': SOURCE_PREFIX + source,
            '#version': 'version',
          },
          ExpressionAttributeValues: { ':d': delta, ':one': 1 },
        }),
      );
    },

    async unread(userId) {
      const result = await dynamo.send(
        new GetCommand({ TableName: tableName, Key: key(userId, KEY.unread), ConsistentRead: true }),
      );
      const counts: UnreadCounts = { total: 0, bySource: {}, version: 0 };
      for (const [name, value] of Object.entries(result.Item ?? {})) {
        if (typeof value !== 'number') continue;
        // Counters never show below zero, even if an expired unread message left them behind.
        if (name === 'total') counts.total = Math.max(0, value);
        else if (name === 'version') counts.version = value;
        else if (name.startsWith(SOURCE_PREFIX) && value > 0)
          counts.bySource[name.slice(SOURCE_PREFIX.length)] = value;
      }
      return counts;
    },

    async markRead(userId, messageId, readAt) {
      const marker = await readMarker(userId, messageId);
      if (marker === undefined || marker.state === 'claimed') return undefined;
      return markStoredRead(userId, marker.seq, readAt);
    },

    markReadBySeq: (userId, seq, readAt) => markStoredRead(userId, seq, readAt),

    async page(userId, options) {
      const forward = options.fromSeq !== undefined;
      // '~' sorts after every seq character, so these ranges hold message rows only.
      const from = forward ? KEY.message(options.fromSeq ?? '') : KEY.messagePrefix;
      const to =
        !forward && options.beforeSeq !== undefined ? KEY.message(options.beforeSeq) : KEY.message('~');
      const result = await dynamo.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
          FilterExpression: '#exp > :now',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK, '#exp': EXPIRES },
          ExpressionAttributeValues: {
            ':pk': KEY.user(userId),
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
        new GetCommand({ TableName: tableName, Key: key(userId, KEY.message(seq)) }),
      );
      const expiresAt = result.Item?.[EXPIRES];
      return typeof expiresAt === 'number' && expiresAt > nowSeconds;
    },
  };
}

function toStoredMessage(item: Record<string, unknown>): StoredMessage {
  return {
    seq: String(item.seq),
    id: String(item.id),
    type: String(item.type),
    source: typeof item.source === 'string' ? item.source : undefined,
    data: item.data,
    ts: Number(item.ts),
    expiresAt: Number(item[EXPIRES]),
    readAt: typeof item.readAt === 'number' ? item.readAt : undefined,
  };
}
