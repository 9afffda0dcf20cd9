/**
 * The per-connection token bucket of client `send`, on the DynamoDB adapter, with the clock given
 * explicitly so that nothing depends on how fast the machine is.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { createTables, probeJava, startDynamo } from '../../emulator/aws/dynamodb.ts';
import { LOCAL_REGION } from '../../emulator/topology.ts';
import type { SendLimiter } from '../../functions/domain/conversation.ts';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { inboxTable } from '../support/inbox-adapter.ts';

const table = inboxTable('send-limiter-test');
const engine = probeJava().found ? 'dynamodb-local' : 'dynalite';

describe(`the send limiter on ${engine}`, () => {
  let server: Awaited<ReturnType<typeof startDynamo>> | undefined;
  let limiter: SendLimiter;
  let dynamo: typeof import('../../functions/adapters/dynamo-client.ts')['dynamo'];
  const t0 = 1_800_000_000_000;
  const connectionRow = async (userId: string, connectionId: string) => {
    await dynamo.send(
      new PutCommand({
        TableName: table.name,
        Item: {
          [TABLE_SCHEMA.partitionKey]: KEY.user(userId),
          [TABLE_SCHEMA.sortKey]: KEY.connection(connectionId),
          connectionId,
          userId,
          [TABLE_SCHEMA.ttlAttribute]: Math.floor(t0 / 1000) + 3600,
        },
      }),
    );
  };

  before(async () => {
    server = await startDynamo({ engine });
    await createTables(server.endpoint, [table], LOCAL_REGION);
    process.env.AWS_ENDPOINT_URL = server.endpoint;
    process.env.AWS_REGION = LOCAL_REGION;
    process.env.AWS_ACCESS_KEY_ID = 'local';
    process.env.AWS_SECRET_ACCESS_KEY = 'local';
    ({ dynamo } = await import('../../functions/adapters/dynamo-client.ts'));
    const { createSendLimiter } = await import('../../functions/adapters/send-limiter.ts');
    limiter = createSendLimiter(table.name, { perSecond: 2, burst: 3 });
  });
  after(async () => {
    await server?.close();
  });

  it('lets a burst through at once, then one send per interval', async () => {
    await connectionRow('ann', 'c1');
    const take = (ms: number) => limiter.take('ann', 'c1', t0 + ms);
    assert.deepEqual([await take(0), await take(0), await take(0), await take(0)], [true, true, true, false]);
    assert.equal(await take(400), false, 'not yet half a second');
    assert.equal(await take(500), true, 'one token back after 1/perSecond');
    assert.equal(await take(500), false);
    assert.deepEqual(
      [await take(10_000), await take(10_000), await take(10_000), await take(10_000)],
      [true, true, true, false],
      'after a long pause the bucket is full again, never more',
    );
  });

  it('gives concurrent sends of one connection one token each', async () => {
    await connectionRow('ben', 'c2');
    const results = await Promise.all(Array.from({ length: 10 }, () => limiter.take('ben', 'c2', t0)));
    assert.equal(results.filter(Boolean).length, 3);
  });

  it('keeps each connection to its own bucket', async () => {
    await connectionRow('cy', 'c3');
    await connectionRow('cy', 'c4');
    for (let i = 0; i < 3; i++) assert.equal(await limiter.take('cy', 'c3', t0), true);
    assert.equal(await limiter.take('cy', 'c3', t0), false);
    assert.equal(await limiter.take('cy', 'c4', t0), true, 'another device of the user');
  });

  it('refuses a connection whose row is gone, and creates no row for it', async () => {
    assert.equal(await limiter.take('dee', 'gone', t0), false);
    const row = await dynamo.send(
      new GetCommand({
        TableName: table.name,
        Key: { [TABLE_SCHEMA.partitionKey]: KEY.user('dee'), [TABLE_SCHEMA.sortKey]: KEY.connection('gone') },
      }),
    );
    assert.equal(row.Item, undefined);
  });
});
