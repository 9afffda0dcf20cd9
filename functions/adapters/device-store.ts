import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DeviceRecord, DeviceStore } from '../domain/mobile-push.ts';
import { isPushPlatform } from '../shared/mobile-push.ts';
import { KEY, TABLE_SCHEMA } from '../shared/table-schema.ts';
import { dynamo } from './dynamo-client.ts';

const PK = TABLE_SCHEMA.partitionKey;
const SK = TABLE_SCHEMA.sortKey;

/** A device row as the domain sees it; undefined for a row it cannot read (never from this code). */
function deviceOf(item: Record<string, unknown>): DeviceRecord | undefined {
  const { endpointArn, platform, token, registeredAt, expiresAt } = item;
  if (typeof endpointArn !== 'string' || typeof token !== 'string') return undefined;
  if (typeof platform !== 'string' || !isPushPlatform(platform)) return undefined;
  return {
    endpointArn,
    platform,
    token,
    registeredAt: Number(registeredAt) || 0,
    expiresAt: Number(expiresAt) || 0,
  };
}

/** Push device rows in the users' partitions (sk `PUSH#{endpointArn}`, see table-schema.ts). */
export function createDeviceStore(tableName: string): DeviceStore {
  return {
    async list(userId, nowMs) {
      const devices: DeviceRecord[] = [];
      let startKey: Record<string, unknown> | undefined;
      // A user has at most MAX_PUSH_DEVICES rows (a few more while two registrations cross): one page.
      do {
        const page = await dynamo.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :push)',
            ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
            ExpressionAttributeValues: { ':pk': KEY.user(userId), ':push': KEY.pushDevicePrefix },
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of page.Items ?? []) {
          const device = deviceOf(item);
          // TTL deletes expired rows only eventually.
          if (device !== undefined && device.expiresAt > Math.floor(nowMs / 1000)) devices.push(device);
        }
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      return devices;
    },
    async put(userId, device) {
      await dynamo.send(
        new PutCommand({
          TableName: tableName,
          Item: { [PK]: KEY.user(userId), [SK]: KEY.pushDevice(device.endpointArn), userId, ...device },
        }),
      );
    },
    async remove(userId, endpointArn) {
      await dynamo.send(
        new DeleteCommand({
          TableName: tableName,
          Key: { [PK]: KEY.user(userId), [SK]: KEY.pushDevice(endpointArn) },
        }),
      );
    },
  };
}
