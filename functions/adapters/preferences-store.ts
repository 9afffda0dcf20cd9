import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { type PreferencesStore, TooManyMutedError } from '../domain/preferences.ts';
import { MAX_MUTED, type Preferences, preferencesOf } from '../shared/preferences.ts';
import { KEY, TABLE_SCHEMA } from '../shared/table-schema.ts';
import { dynamo, isConditionFailed } from './dynamo-client.ts';

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;

/** Attempts of a change that meets another change of the same user. */
const CHANGE_ATTEMPTS = 5;

export function createPreferencesStore(tableName: string): PreferencesStore {
  const key = (userId: string) => ({ [PK]: KEY.user(userId), [SK]: KEY.preferences });
  const get = async (userId: string) => {
    const result = await dynamo.send(
      new GetCommand({ TableName: tableName, Key: key(userId), ConsistentRead: true }),
    );
    return preferencesOf(result.Item);
  };
  return {
    get,
    // Read, apply, write if nothing changed meanwhile (changes are rare; lists stay sorted).
    async change(userId, change, nowMs) {
      for (let attempt = 1; ; attempt++) {
        const before = await get(userId);
        const apply = (
          current: readonly string[],
          add: readonly string[] = [],
          remove: readonly string[] = [],
        ) => [...new Set([...current, ...add])].filter((name) => !remove.includes(name)).sort();
        const after: Preferences = {
          mutedTypes: apply(before.mutedTypes, change.mute?.types, change.unmute?.types),
          mutedSources: apply(before.mutedSources, change.mute?.sources, change.unmute?.sources),
          version: Math.max(nowMs, before.version + 1),
        };
        if (after.mutedTypes.length > MAX_MUTED || after.mutedSources.length > MAX_MUTED) {
          throw new TooManyMutedError();
        }
        try {
          await dynamo.send(
            new PutCommand({
              TableName: tableName,
              Item: { ...key(userId), userId, ...after },
              ConditionExpression: before.version === 0 ? 'attribute_not_exists(#pk)' : '#version = :before',
              ExpressionAttributeNames: before.version === 0 ? { '#pk': PK } : { '#version': 'version' },
              ...(before.version === 0 ? {} : { ExpressionAttributeValues: { ':before': before.version } }),
            }),
          );
          return after;
        } catch (error) {
          if (!isConditionFailed(error) || attempt >= CHANGE_ATTEMPTS) throw error;
        }
      }
    },
  };
}
