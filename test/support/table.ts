import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import type { Target } from './target.ts';

/** The connection ids stored for a user, read straight from the table. */
export async function listUserConnectionsFor(target: Target, userId: string): Promise<string[]> {
  const answer = await target.dynamo.send(
    new QueryCommand({
      TableName: target.outputs.TableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :conn)',
      ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
      ExpressionAttributeValues: { ':pk': KEY.user(userId), ':conn': KEY.connectionPrefix },
    }),
  );
  return (answer.Items ?? []).map((item) => String(item.connectionId));
}

/** The `data` of every message stored in a user's inbox, in store order, read straight from the table. */
export async function storedMessagesFor(target: Target, userId: string): Promise<unknown[]> {
  const answer = await target.dynamo.send(
    new QueryCommand({
      TableName: target.outputs.TableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :msg)',
      ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
      ExpressionAttributeValues: { ':pk': KEY.user(userId), ':msg': KEY.messagePrefix },
    }),
  );
  // Markers of push-only messages share the prefix but carry no seq; `data` is kept as JSON text.
  return (answer.Items ?? [])
    .filter((item) => typeof item.seq === 'string')
    .sort((a, b) => (String(a.seq) < String(b.seq) ? -1 : 1))
    .map((item) => JSON.parse(String(item.data)));
}
