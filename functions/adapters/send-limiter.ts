import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SendLimiter } from '../domain/conversation.ts';
import { KEY, TABLE_SCHEMA } from '../shared/table-schema.ts';
import { dynamo, isConditionFailed } from './dynamo-client.ts';

/** A connection's sending rate: `perSecond` on average, `burst` at once. */
export interface SendRate {
  readonly perSecond: number;
  readonly burst: number;
}

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;

/** The connection row's attribute holding the bucket's state (see below). */
const TAT = 'sendTat';

/**
 * A token bucket per connection, kept on its connection row as one number: the "theoretical
 * arrival time" (epoch ms) of the generic cell rate algorithm, which is the same bucket written
 * differently. Each send moves it one interval (1000 / perSecond ms) later; a send is allowed while
 * it is at most `burst - 1` intervals ahead of now. A full bucket (it lies in the past) is one
 * conditional update; a send inside a burst is two. Concurrent sends of one connection each take
 * their own token: the conditions make the updates exclusive.
 *
 * The connection row must exist (an update never creates one: delivery would take it for a
 * connection); a connection whose row is gone is ending, and its sends are refused.
 */
export function createSendLimiter(tableName: string, rate: SendRate): SendLimiter {
  const interval = 1000 / rate.perSecond;
  const tolerance = (rate.burst - 1) * interval;
  const attempt = async (
    key: Record<string, string>,
    expression: string,
    condition: string,
    values: Record<string, number>,
  ): Promise<boolean> => {
    try {
      await dynamo.send(
        new UpdateCommand({
          TableName: tableName,
          Key: key,
          UpdateExpression: expression,
          ConditionExpression: `attribute_exists(#pk) AND (${condition})`,
          ExpressionAttributeNames: { '#pk': PK, '#tat': TAT },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailed(error)) return false;
      throw error;
    }
  };

  return {
    async take(userId, connectionId, nowMs) {
      const key = { [PK]: KEY.user(userId), [SK]: KEY.connection(connectionId) };
      // The bucket is full (its time lies in the past, or it was never used): start from now.
      if (
        await attempt(key, 'SET #tat = :next', 'attribute_not_exists(#tat) OR #tat <= :now', {
          ':next': nowMs + interval,
          ':now': nowMs,
        })
      ) {
        return true;
      }
      // Inside a burst: take a token while the bucket's time is at most `burst - 1` intervals ahead.
      return attempt(key, 'SET #tat = #tat + :interval', '#tat <= :limit', {
        ':interval': interval,
        ':limit': nowMs + tolerance,
      });
    },
  };
}
