/**
 * The publisher library's presence questions and control order, against the local stack: who is
 * online, who a topic or the broadcast audience reaches, and ending a user's connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { InvalidPresenceQueryError, Presence, Publisher } from '../../publisher/index.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import { eventually, type TestSocket } from '../support/ws-client.ts';

describe('presence and control from the publisher library', () => {
  let target: Target;
  let presence: Presence;
  let publisher: Publisher;
  const sockets: TestSocket[] = [];
  const connect = async (userId: string, topics?: string[]) => {
    const socket = await target.connect(userId, { topics });
    sockets.push(socket);
    return socket;
  };
  const subscribe = async (socket: TestSocket, topic: string) => {
    const from = socket.frames.length;
    socket.send({ action: 'subscribe', topic });
    const answer = await socket.next((f) => f.kind === 'subscribed' || f.kind === 'error', 30_000, from);
    assert.equal(answer.kind, 'subscribed', JSON.stringify(answer));
  };

  before(async () => {
    target = await startTarget();
    const aws = {
      endpoint: target.outputs.AwsEndpointUrl,
      region: target.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    presence = new Presence({ tableName: target.outputs.TableName, client: new DynamoDBClient(aws) });
    publisher = new Publisher({ topicArn: target.outputs.TopicArn, client: new SNSClient(aws) });
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target.stop();
  });

  it('says which users are online and on how many connections, in the order asked', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [ada, ben, cy] = [unique('ada'), unique('ben'), unique('cy')];
    const [phone] = [await connect(ada), await connect(ada), await connect(ben)];
    assert.deepEqual(await presence.online([cy, ada, ben]), [
      { user: cy, online: false, connections: 0 },
      { user: ada, online: true, connections: 2 },
      { user: ben, online: true, connections: 1 },
    ]);

    await phone?.close();
    await eventually(
      async () => (await presence.online([ada]))[0]?.connections === 1,
      30_000,
      'one connection after $disconnect',
    );
  });

  it('does not count a connection row past its expiry (a disconnect API Gateway never reported)', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const ghost = unique('ghost');
    await target.dynamo.send(
      new PutCommand({
        TableName: target.outputs.TableName,
        Item: {
          [TABLE_SCHEMA.partitionKey]: KEY.user(ghost),
          [TABLE_SCHEMA.sortKey]: KEY.connection('gone='),
          connectionId: 'gone=',
          userId: ghost,
          connectedAt: Date.now() - 3 * 3600_000,
          [TABLE_SCHEMA.ttlAttribute]: Math.floor(Date.now() / 1000) - 60,
        },
      }),
    );
    assert.deepEqual(await presence.online([ghost]), [{ user: ghost, online: false, connections: 0 }]);
  });

  it("counts a topic's connections and users, and the broadcast audience", {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const topic = unique('desk');
    const [dee, eli] = [unique('dee'), unique('eli')].sort() as [string, string];
    const deePhone = await connect(dee, [topic]);
    const deeLaptop = await connect(dee, [topic]);
    const eliPhone = await connect(eli, [topic]);
    await connect(unique('fay'), [topic]); // connected, never joins
    for (const socket of [deePhone, deeLaptop, eliPhone]) await subscribe(socket, topic);

    assert.deepEqual(await presence.audience({ topic }), {
      connections: 3,
      userCount: 2,
      users: [dee, eli],
      truncated: false,
    });
    assert.deepEqual(await presence.audience({ topic }, { maxUsers: 1 }), {
      connections: 3,
      userCount: 2,
      users: [dee],
      truncated: true,
    });

    const everyone = await presence.audience({ all: true }, { maxUsers: 100_000 });
    assert.ok(everyone.connections >= 4, `every live connection: ${everyone.connections}`);
    assert.ok(everyone.users.includes(dee) && everyone.users.includes(eli));

    eliPhone.send({ action: 'unsubscribe', topic });
    await eliPhone.next((f) => f.kind === 'unsubscribed');
    assert.deepEqual(await presence.audience({ topic }), {
      connections: 2,
      userCount: 1,
      users: [dee],
      truncated: false,
    });
  });

  it('refuses a topic name that cannot exist, naming the rule', async () => {
    await assert.rejects(
      presence.audience({ topic: 'has space' }),
      (error: unknown) => error instanceof InvalidPresenceQueryError && /letters/.test(error.message),
    );
    await assert.rejects(presence.online(['']), InvalidPresenceQueryError);
  });

  it("ends every connection of the users it names, and no other user's", {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [gil, hal] = [unique('gil'), unique('hal')];
    const gilDevices = [await connect(gil), await connect(gil)];
    const halDevice = await connect(hal);

    await publisher.disconnect([gil], { reason: 'account closed' });
    for (const device of gilDevices) {
      const frame = await device.next((f) => f.kind === 'disconnect');
      assert.equal(frame.reason, 'account closed');
      await device.closed;
    }
    await eventually(
      async () => (await presence.online([gil]))[0]?.online === false,
      30_000,
      'offline once closed',
    );
    const id = unique('still-here');
    halDevice.send({ action: 'ping', id });
    await halDevice.next((f) => f.kind === 'pong' && f.id === id);
  });
});
