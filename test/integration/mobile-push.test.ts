/**
 * Mobile push, the offline fallback, end to end on the local stack: a device registers its push
 * token from a socket (or a service registers it), and a message of an opted-in type that no
 * connection took is published to the device's SNS platform endpoint; the local SNS records what
 * APNs or FCM would have been handed. Local only: it reads the recorded pushes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetEndpointAttributesCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { PushlineServerError } from '../../client/index.ts';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { Publisher } from '../../publisher/index.ts';
import { connectWithin, newUser, stackClient } from '../support/client-harness.ts';
import { startTarget, type Target, unique } from '../support/target.ts';
import { eventually, type Frame, type TestSocket } from '../support/ws-client.ts';

const LOCAL_ONLY =
  process.env.PUSHLINE_TARGET === 'external' ? 'reads the pushes the local SNS records' : false;

/** An APNs device token: 64 hexadecimal characters, different per call. */
function apnsToken(): string {
  return Array.from({ length: 64 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

async function request(socket: TestSocket, frame: Record<string, unknown>, kind: string): Promise<Frame> {
  const from = socket.frames.length;
  socket.send(frame);
  return socket.next((f) => f.kind === kind || f.kind === 'error', 30_000, from);
}

describe('mobile push, end to end', { skip: LOCAL_ONLY }, () => {
  let target: Target;
  let publisher: Publisher;
  const sockets: TestSocket[] = [];
  const connect = async (userId: string) => {
    const socket = await target.connect(userId);
    sockets.push(socket);
    return socket;
  };
  const local = () => {
    if (!target.local) throw new Error('these scenarios need the local stack');
    return target.local;
  };
  /** The user's push device rows. */
  const deviceRows = async (userId: string) => {
    const answer = await target.dynamo.send(
      new QueryCommand({
        TableName: target.outputs.TableName,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :push)',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
        ExpressionAttributeValues: { ':pk': KEY.user(userId), ':push': KEY.pushDevicePrefix },
      }),
    );
    return answer.Items ?? [];
  };
  /** Registers a token from a new socket of the user, then closes every socket of the user. */
  const registerOffline = async (userId: string, platform: string, token: string) => {
    const socket = await connect(userId);
    const registered = await request(socket, { action: 'register', platform, token }, 'registered');
    assert.equal(registered.kind, 'registered', JSON.stringify(registered));
    await socket.close();
    await waitUntilOffline(userId);
    return String(registered.endpoint);
  };
  /** Waits until `$disconnect` removed every connection row of the user. */
  const waitUntilOffline = (userId: string) =>
    eventually(
      async () => {
        const answer = await target.dynamo.send(
          new QueryCommand({
            TableName: target.outputs.TableName,
            KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :conn)',
            ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
            ExpressionAttributeValues: { ':pk': KEY.user(userId), ':conn': KEY.connectionPrefix },
          }),
        );
        return (answer.Items ?? []).length === 0;
      },
      30_000,
      `the connections of ${userId} gone`,
    );
  /** Publishes to one user and waits until the stack has delivered it. */
  const publish = async (user: string, type: string, data: unknown) => {
    const { id } = await publisher.publish({ to: { users: [user] }, type, data });
    await local().idle();
    return id;
  };
  const pushesTo = (endpointArn: string) => local().sns.mobileDeliveries({ endpointArn });

  before(async () => {
    target = await startTarget({ context: { mobilePushTypes: 'chat.text,chat.ping' } });
    publisher = new Publisher({
      topicArn: target.outputs.TopicArn,
      client: new SNSClient({
        endpoint: target.outputs.AwsEndpointUrl,
        region: target.outputs.Region,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    });
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target.stop();
  });

  it('pushes an opted-in message to the APNs device of a user with no connection', async () => {
    const user = unique('ana');
    const token = apnsToken();
    const endpoint = await registerOffline(user, 'APNS', token.toUpperCase());
    assert.match(endpoint, /^arn:aws:sns:[^:]+:\d+:endpoint\/APNS\/pushline-apns\/[0-9a-f-]{36}$/);
    const [row] = await deviceRows(user);
    assert.equal(row?.endpointArn, endpoint);
    assert.equal(row?.platform, 'APNS');
    assert.equal(row?.token, token, 'kept lowercased, as SNS keeps APNs tokens');

    const id = await publish(user, 'chat.text', {
      text: 'Lunch at noon?',
      title: 'Bo',
      secret: 'x'.repeat(5000),
    });
    const [push, ...more] = pushesTo(endpoint);
    assert.deepEqual(more, []);
    assert.equal(push?.platform, 'APNS');
    assert.equal(push?.token, token);
    assert.equal(push?.source, 'platform', 'the APNS entry of a MessageStructure=json message');
    assert.deepEqual(JSON.parse(push?.payload ?? '{}'), {
      aps: { alert: { title: 'Bo', body: 'Lunch at noon?' }, sound: 'default' },
      pushline: { id, type: 'chat.text' },
    });
    assert.equal(push?.messageAttributes['AWS.SNS.MOBILE.APNS.PUSH_TYPE']?.value, 'alert');
  });

  it('pushes an FCM message with the text as the notification and the ids as data', async () => {
    const user = unique('ben');
    const endpoint = await registerOffline(user, 'GCM', `fcm-${unique('token')}:APA91b`);
    assert.match(endpoint, /:endpoint\/GCM\/pushline-gcm\//);
    const id = await publish(user, 'chat.text', 'Running late');
    const [push] = pushesTo(endpoint);
    assert.deepEqual(JSON.parse(push?.payload ?? '{}'), {
      fcmV1Message: {
        message: {
          notification: { body: 'Running late' },
          data: { id, type: 'chat.text' },
          android: { priority: 'HIGH' },
        },
      },
    });
  });

  it('sends a background push for an opted-in message with no text', async () => {
    const user = unique('cai');
    const endpoint = await registerOffline(user, 'APNS', apnsToken());
    const id = await publish(user, 'chat.ping', { count: 3 });
    const [push] = pushesTo(endpoint);
    assert.deepEqual(JSON.parse(push?.payload ?? '{}'), {
      aps: { 'content-available': 1 },
      pushline: { id, type: 'chat.ping' },
    });
    assert.equal(push?.messageAttributes['AWS.SNS.MOBILE.APNS.PUSH_TYPE']?.value, 'background');
  });

  it('pushes nothing for a type the deployment did not opt in', async () => {
    const user = unique('dee');
    const endpoint = await registerOffline(user, 'APNS', apnsToken());
    await publish(user, 'news.digest', { text: 'Your weekly digest' });
    assert.deepEqual(pushesTo(endpoint), []);
  });

  it('pushes nothing to a user whose open connection took the message', async () => {
    const user = unique('eli');
    const endpoint = await registerOffline(user, 'APNS', apnsToken());
    const laptop = await connect(user);
    const id = await publish(user, 'chat.text', { text: 'Seen on the laptop' });
    await laptop.next((f) => f.kind === 'message' && f.id === id);
    assert.deepEqual(pushesTo(endpoint), []);
  });

  it('deletes an endpoint SNS reports disabled, with its row, and pushes to the others', async () => {
    const user = unique('fay');
    const stale = await registerOffline(user, 'APNS', apnsToken());
    const fresh = await registerOffline(user, 'GCM', `fcm-${unique('token')}`);
    local().sns.disableEndpoint(stale);
    await publish(user, 'chat.text', { text: 'Anyone there?' });
    assert.equal(pushesTo(fresh).length, 1);
    assert.deepEqual(pushesTo(stale), []);
    assert.deepEqual(
      (await deviceRows(user)).map((row) => row.endpointArn),
      [fresh],
      'only the fresh row is left',
    );
    await assert.rejects(
      target.sns.send(new GetEndpointAttributesCommand({ EndpointArn: stale })),
      (error: Error) => error.name === 'NotFoundException',
    );
  });

  it('returns the same endpoint for the same token, and moves a token to its new user', async () => {
    const token = apnsToken();
    const [first, second] = [unique('gus'), unique('hal')];
    const endpoint = await registerOffline(first, 'APNS', token);
    assert.equal(await registerOffline(first, 'APNS', token), endpoint, 'idempotent');
    assert.equal((await deviceRows(first)).length, 1);
    assert.equal(await registerOffline(second, 'APNS', token), endpoint);
    assert.deepEqual(await deviceRows(first), [], 'the former user no longer holds it');
    assert.equal((await deviceRows(second)).length, 1);
    const attributes = await target.sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpoint }));
    assert.equal(attributes.Attributes?.CustomUserData, second);

    await publish(first, 'chat.text', { text: 'for the former owner' });
    assert.deepEqual(pushesTo(endpoint), [], "the former owner's messages ring nothing");
  });

  it('unregisters a token: its endpoint and row are deleted, and a repeat is answered the same', async () => {
    const user = unique('ivy');
    const token = apnsToken();
    const socket = await connect(user);
    const registered = await request(socket, { action: 'register', platform: 'APNS', token }, 'registered');
    const answer = await request(socket, { action: 'unregister', token }, 'unregistered');
    assert.deepEqual(answer, { kind: 'unregistered' });
    assert.deepEqual(await deviceRows(user), []);
    await assert.rejects(
      target.sns.send(new GetEndpointAttributesCommand({ EndpointArn: String(registered.endpoint) })),
      (error: Error) => error.name === 'NotFoundException',
    );
    assert.deepEqual(await request(socket, { action: 'unregister', token }, 'unregistered'), {
      kind: 'unregistered',
    });
  });

  it('answers typed errors: a platform without an application, and bad fields', async () => {
    const socket = await connect(unique('jo'));
    const sandbox = await request(
      socket,
      { action: 'register', platform: 'APNS_SANDBOX', token: apnsToken() },
      'registered',
    );
    assert.equal(sandbox.kind, 'error');
    assert.equal(sandbox.code, 'FORBIDDEN');
    assert.equal(sandbox.action, 'register');
    for (const frame of [
      { action: 'register', platform: 'WNS', token: 'abc' },
      { action: 'register', platform: 'APNS', token: 'not-hex' },
      { action: 'register', platform: 'GCM' },
      { action: 'unregister' },
    ]) {
      const refused = await request(socket, frame, 'registered');
      assert.equal(refused.code, 'INVALID_REQUEST', JSON.stringify(frame));
      assert.equal(refused.action, frame.action);
    }
  });

  it('lets a service register and unregister a device with only its publish rights', async () => {
    const user = unique('kit');
    const token = apnsToken();
    await publisher.registerDevice(user, 'APNS', token);
    await local().idle();
    const [row] = await deviceRows(user);
    assert.equal(row?.token, token);
    const id = await publish(user, 'chat.text', { text: 'Registered by the backend' });
    const [push] = pushesTo(String(row?.endpointArn));
    assert.equal(JSON.parse(push?.payload ?? '{}').pushline.id, id);

    await publisher.registerDevice(user, 'APNS_SANDBOX', apnsToken());
    const rejected = await target.rejected(5);
    assert.ok(
      rejected.some((entry) => /no mobile push to APNS_SANDBOX/.test(entry.reason)),
      JSON.stringify(rejected.map((entry) => entry.reason)),
    );

    await publisher.unregisterDevice(user, token);
    await local().idle();
    assert.deepEqual(await deviceRows(user), []);
    const gone = await target.dynamo.send(
      new GetCommand({
        TableName: target.outputs.TableName,
        Key: {
          [TABLE_SCHEMA.partitionKey]: KEY.user(user),
          [TABLE_SCHEMA.sortKey]: KEY.pushDevice(String(row?.endpointArn)),
        },
      }),
    );
    assert.equal(gone.Item, undefined);
  });

  it('with the client SDK: registerPush resolves with the endpoint, a refusal is typed, unregisterPush', async () => {
    const user = newUser('lou');
    const client = stackClient(target.outputs, user);
    try {
      await connectWithin(client);
      const token = apnsToken();
      const registration = await client.registerPush('APNS', token);
      assert.equal(registration.platform, 'APNS');
      assert.equal((await deviceRows(user))[0]?.endpointArn, registration.endpoint);
      await assert.rejects(
        client.registerPush('APNS_SANDBOX', token),
        (error: unknown) => error instanceof PushlineServerError && error.serverCode === 'FORBIDDEN',
      );
      await client.unregisterPush(token);
      assert.deepEqual(await deviceRows(user), []);
    } finally {
      client.close();
    }
  });
});
