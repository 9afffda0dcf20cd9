import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { WebSocket } from 'ws';
import type { PushlineClient } from '../../client/index.ts';
import type { MessageFrame } from '../../functions/shared/protocol.ts';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { mintLocalToken } from '../../local/tokens.ts';
import {
  connectWithin,
  LIMIT,
  newUser,
  publisher,
  Received,
  SocketTracker,
  stackClient,
  waitFor,
} from '../support/client-harness.ts';

describe('the client SDK on the local stack', () => {
  let stack: LocalStack;
  let sns: ReturnType<typeof publisher>;
  let documents: DynamoDBDocumentClient;
  let management: ApiGatewayManagementApiClient;
  const clients: PushlineClient[] = [];
  const rawSockets: WebSocket[] = [];

  const client = (userId: string, options: Parameters<typeof stackClient>[2] = {}) => {
    const made = stackClient(stack.outputs, userId, options);
    clients.push(made);
    return made;
  };

  /** Connection ids of a user, read from the connections table as the deliver function does. */
  const connectionIds = async (userId: string): Promise<string[]> => {
    const result = await documents.send(
      new QueryCommand({
        TableName: stack.outputs.TableName,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :conn)',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
        ExpressionAttributeValues: { ':pk': KEY.user(userId), ':conn': KEY.connectionPrefix },
        ConsistentRead: true,
      }),
    );
    return (result.Items ?? []).map((item) => String(item.connectionId));
  };

  /** Opens a bare socket for `userId`, sends `resume`, and collects every frame it gets. */
  const rawConnection = async (userId: string) => {
    const socket = new WebSocket(`${stack.outputs.WebSocketUrl}?token=${await mintLocalToken(userId)}`);
    rawSockets.push(socket);
    const frames: Record<string, unknown>[] = [];
    socket.on('message', (data) => frames.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ action: 'resume' }));
    await waitFor(
      () => frames.some((f) => f.kind === 'backlog' && f.more === false),
      () => 'the raw backlog',
    );
    return frames;
  };

  /** Pings on the newest bare socket and waits for its pong: every frame sent before it has arrived. */
  const pingRaw = async () => {
    const socket = rawSockets.at(-1);
    if (!socket) throw new Error('no bare socket');
    const id = `barrier-${rawSockets.length}`;
    let ponged = false;
    const onMessage = (data: unknown) => {
      const frame = JSON.parse(String(data)) as { kind?: string; id?: string };
      if (frame.kind === 'pong' && frame.id === id) ponged = true;
    };
    socket.on('message', onMessage);
    socket.send(JSON.stringify({ action: 'ping', id }));
    try {
      await waitFor(
        () => ponged,
        () => 'the pong on the bare socket',
        30_000,
      );
    } finally {
      socket.off('message', onMessage);
    }
  };

  before(async () => {
    stack = await startLocalStack({ quiet: true, console: false, ports: { gateway: 0, aws: 0 } });
    sns = publisher(stack.outputs);
    const aws = {
      endpoint: stack.outputs.AwsEndpointUrl,
      region: stack.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    documents = DynamoDBDocumentClient.from(new DynamoDBClient(aws));
    management = new ApiGatewayManagementApiClient({ ...aws, endpoint: stack.outputs.CallbackUrl });
  });

  after(async () => {
    for (const made of clients) made.close();
    for (const socket of rawSockets) socket.terminate();
    sns?.close();
    documents?.destroy();
    management?.destroy();
    await stack?.stop();
  });

  it(
    'gives a user who was offline the backlog in publish order on connect, with the unread count',
    LIMIT,
    async () => {
      const user = newUser('offline');
      const ids = Array.from({ length: 6 }, (_, i) => `${user}-m${i}`);
      for (const [i, id] of ids.entries()) {
        await sns.publish({ id, to: { users: [user] }, type: 'note', source: 'billing', data: { n: i } });
        await stack.idle(); // One at a time, so that store order is publish order.
      }

      const device = client(user);
      const received = new Received(device);
      const counts: number[] = [];
      device.on('unread', (unread) => counts.push(unread.total));
      await connectWithin(device);

      assert.deepEqual(
        received.messages.map((m) => m.id),
        ids,
      );
      assert.ok(received.messages.every((m) => m.replayed && !m.read && m.source === 'billing'));
      const seqs = received.messages.map((m) => m.seq ?? '');
      assert.deepEqual([...seqs].sort(), seqs, 'seqs ascend');
      assert.equal(device.cursor, seqs.at(-1));
      assert.deepEqual(device.unread, { total: 6, bySource: { billing: 6 } });
      assert.equal(counts[0], 6, 'the unread count comes first');
    },
  );

  it(
    'delivers every message exactly once while its connections are killed and restarted mid-stream',
    LIMIT,
    async () => {
      const user = newUser('killed');
      const sockets = new SocketTracker();
      // A connection that is not open and resumed within 8 s is replaced (the default is 20 s), so
      // that one slow reconnection on a loaded machine cannot outlast the waits below.
      const device = client(user, { WebSocket: sockets.WebSocket, connectTimeoutMs: 8_000 });
      const received = new Received(device);
      await connectWithin(device);

      // Eight rounds: publish a batch, cut the connection as soon as the first of it has arrived (the
      // rest is still on its way), and wait until the client is back. The number of messages is
      // fixed: a slow machine makes the test slower, not the deliver function's backlog longer.
      const ids: string[] = [];
      const publishBatch = async (size: number) => {
        const batch: string[] = [];
        for (let n = 0; n < size; n++) {
          const id = `${user}-m${ids.length}`;
          ids.push(id);
          batch.push(id);
          await sns.publish({ id, to: { users: [user] }, type: 'tick', data: { n: ids.length } });
        }
        return batch;
      };
      let kills = 0;
      let opened = sockets.sockets.length;
      for (let round = 0; round < 8; round++) {
        const batch = await publishBatch(6);
        await waitFor(
          () => batch.some((id) => received.counts.has(id)),
          () => `a message of round ${round}`,
          30_000,
        );
        if (round % 2 === 0) {
          // The network drops: the socket dies on the client side.
          for (const socket of sockets.open) socket.terminate();
          kills++;
        } else {
          // The server drops it: DELETE @connections/{id}, as an operator or API Gateway would.
          for (const connectionId of await connectionIds(user)) {
            try {
              await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
              kills++;
            } catch (error) {
              // A row whose connection has closed and whose $disconnect has not removed it yet.
              if (!(error instanceof Error && error.name === 'GoneException')) throw error;
            }
          }
        }
        // Back on a new connection (the close of a killed one can lag).
        await waitFor(
          () => device.state === 'open' && sockets.open.length > 0 && sockets.sockets.length > opened,
          () => `the client back after round ${round}`,
          30_000,
        );
        opened = sockets.sockets.length;
      }
      await publishBatch(6);

      // Generous: on a loaded machine a connection whose resume is slow is given up after the
      // client's 8 s connect timeout and replaced, and the messages must still all arrive.
      await waitFor(
        () => received.missing(ids).length === 0,
        () => `missing ${received.missing(ids).join(', ')}`,
        60_000,
      );
      await stack.idle();
      await device.ping(); // Frames pushed before the pong have arrived: a late duplicate would show.

      assert.deepEqual(received.duplicates, []);
      assert.equal(received.messages.length, ids.length);
      assert.ok(kills >= 8, `only ${kills} kills`);
      assert.ok(sockets.sockets.length >= 9, `only ${sockets.sockets.length} connections`);
      assert.ok(received.states.includes('reconnecting'));
      assert.equal(device.state, 'open');
    },
  );

  it(
    'restarts from a saved cursor and recent ids with nothing lost and nothing repeated',
    LIMIT,
    async () => {
      const user = newUser('restart');
      const first = client(user);
      const before = new Received(first);
      await connectWithin(first);
      const early = [`${user}-a`, `${user}-b`, `${user}-c`];
      for (const id of early) await sns.publish({ id, to: { users: [user] }, type: 'note', data: {} });
      await waitFor(
        () => before.missing(early).length === 0,
        () => 'the first messages',
      );
      const saved = { cursor: first.cursor, seenIds: first.recentIds() };
      first.close();

      const late = [`${user}-d`, `${user}-e`];
      for (const id of late) await sns.publish({ id, to: { users: [user] }, type: 'note', data: {} });
      await stack.idle();

      const second = client(user, saved);
      const after = new Received(second);
      await connectWithin(second);
      await second.ping(); // Frames sent before the pong have arrived: a repeat would show.
      // Each publish is its own deliver invocation, so the two may be stored in either order.
      assert.deepEqual(after.messages.map((m) => m.id).sort(), [...late].sort());
    },
  );

  it(
    'delivers a message published twice with the same id once, and pushes it once per connection',
    LIMIT,
    async () => {
      const user = newUser('idempotent');
      const device = client(user);
      const received = new Received(device);
      await connectWithin(device);
      const raw = await rawConnection(user);

      const id = `${user}-once`;
      const envelope = { id, to: { users: [user] }, type: 'note', data: { text: 'once' } };
      await Promise.all([sns.publish(envelope), sns.publish(envelope)]);
      await stack.idle();
      await sns.publish(envelope);
      await stack.idle();
      await waitFor(
        () => received.counts.has(id),
        () => 'the message',
      );
      await device.ping();
      await pingRaw(); // Frames pushed before these pongs have arrived: a second push would show.

      const pushed = raw.filter((frame) => frame.kind === 'message' && frame.id === id);
      assert.equal(pushed.length, 1, 'pushed once to the bare connection');
      assert.equal(received.counts.get(id), 1);
      const stored = (await rawConnection(user))
        .filter((frame) => frame.kind === 'backlog')
        .flatMap((frame) => frame.messages as MessageFrame[])
        .filter((message) => message.id === id);
      assert.equal(stored.length, 1, 'stored once');
    },
  );

  it(
    'keeps unread counts right on every device when several devices acknowledge at once',
    LIMIT,
    async (t) => {
      const user = newUser('acks');
      const devices = [client(user), client(user), client(user)];
      const received = devices.map((device) => new Received(device));
      const readIds = devices.map(() => new Set<string>());
      // Read events are live frames: one posted while its device was reconnecting (a heartbeat
      // cut on a loaded machine) is not replayed; the counts the new connection resumes with are.
      const reconnected = devices.map(() => false);
      for (const [i, device] of devices.entries()) {
        device.on('read', (read) => {
          for (const id of read.ids) readIds[i]?.add(id);
        });
        device.on('state', (state) => {
          if (state === 'reconnecting') reconnected[i] = true;
        });
      }
      await Promise.all(devices.map((device) => connectWithin(device)));

      const ids = Array.from({ length: 20 }, (_, i) => `${user}-m${i}`);
      await Promise.all(
        ids.map((id, i) =>
          sns.publish({
            id,
            to: { users: [user] },
            type: 'note',
            source: i % 2 ? 'chat' : 'billing',
            data: { i },
          }),
        ),
      );
      await waitFor(
        () => received.every((r) => r.missing(ids).length === 0),
        () => 'every device to get every message',
      );
      for (const device of devices) assert.equal(device.unread?.total, 20, 'counts follow live messages');

      // Overlapping acks at the same moment: 0-9, 5-14, and the even ones of 0-14. Union: 0-14.
      const [a, b, c] = devices as [PushlineClient, PushlineClient, PushlineClient];
      a.ack(ids.slice(0, 10));
      b.ack(ids.slice(5, 15));
      c.ack(ids.slice(0, 15).filter((_, i) => i % 2 === 0));
      const expected = { total: 5, bySource: { billing: 2, chat: 3 } };
      await stack.idle();
      await waitFor(
        () => devices.every((device) => device.unread?.total === 5),
        () => `converged counts, got ${devices.map((d) => JSON.stringify(d.unread)).join(' ')}`,
      );
      // Each ack's read frame is posted by its own invocation, unordered with the others and with
      // any pong: the counts may converge (the highest version wins) while an older read frame is
      // still on its way. So wait for the read events themselves, each device's union of them.
      const union = ids.slice(0, 15).sort();
      for (const [i, device] of devices.entries()) {
        assert.deepEqual(device.unread, expected, `device ${i}`);
        if (reconnected[i]) {
          t.diagnostic(`device ${i} reconnected during the test: its read events are checked as a subset`);
          assert.ok(
            [...(readIds[i] ?? [])].every((id) => union.includes(id)),
            `device ${i} read events`,
          );
          continue;
        }
        await waitFor(
          () => readIds[i]?.size === union.length,
          () => `device ${i} read events: ${[...(readIds[i] ?? [])].sort().join(' ')}`,
        );
        assert.deepEqual([...(readIds[i] ?? [])].sort(), union, `device ${i} read events`);
        assert.deepEqual(device.unread, expected, `device ${i}: no older read frame overrode the counts`);
      }

      const fresh = client(user);
      const replay = new Received(fresh);
      await connectWithin(fresh);
      assert.deepEqual(fresh.unread, expected, 'a new device starts from the same counts');
      // Published side by side, so their store order (the replay's order) is any order.
      assert.deepEqual(
        replay.messages
          .filter((m) => !m.read)
          .map((m) => m.id)
          .sort(),
        ids.slice(15).sort(),
        'the replay marks the read messages',
      );
    },
  );

  it('connects with the token in Sec-WebSocket-Protocol as well', LIMIT, async () => {
    const user = newUser('subprotocol');
    const device = client(user, { tokenTransport: 'protocol' });
    const received = new Received(device);
    await connectWithin(device);
    await sns.publish({ id: `${user}-x`, to: { users: [user] }, type: 'note', data: {} });
    await waitFor(
      () => received.counts.has(`${user}-x`),
      () => 'the message',
    );
    assert.equal(await device.ping().then((rtt) => rtt >= 0), true);
  });
});
