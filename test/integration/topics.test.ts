import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SUBPROTOCOL } from '../../functions/shared/protocol.ts';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { MAX_TOPICS_PER_CONNECTION, shardOf } from '../../functions/shared/topics.ts';
import { listUserConnectionsFor } from '../support/table.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import { eventually, type Frame, refusedStatus, TestSocket } from '../support/ws-client.ts';

const topicEnvelope = (topic: string, extra: Record<string, unknown> = {}) => ({
  v: 1,
  to: { topic },
  type: 'news',
  data: { headline: topic },
  ...extra,
});

describe('topics, broadcast, presence and control, end to end', () => {
  let target: Target;
  const sockets: TestSocket[] = [];
  const connect = async (userId: string, topics?: string[]) => {
    const socket = await target.connect(userId, { topics });
    sockets.push(socket);
    return socket;
  };
  /** Sends a frame and waits for the answer of the given kind (or an error) after it. */
  const request = async (socket: TestSocket, frame: Record<string, unknown>, kind: string) => {
    const from = socket.frames.length;
    socket.send(frame);
    return socket.next((f) => f.kind === kind || f.kind === 'error', 30_000, from);
  };
  /** A ping answered: every frame the server sent this socket before it has arrived. */
  const barrier = async (socket: TestSocket) => {
    const id = unique('barrier');
    socket.send({ action: 'ping', id });
    await socket.next((f) => f.kind === 'pong' && f.id === id);
  };
  const subscriptionRow = async (topic: string, connectionId: string) => {
    const answer = await target.dynamo.send(
      new QueryCommand({
        TableName: target.outputs.TableName,
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk AND #sk = :sk',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey, '#sk': TABLE_SCHEMA.sortKey },
        ExpressionAttributeValues: {
          ':pk': KEY.topicShard(topic, shardOf(connectionId)),
          ':sk': KEY.connection(connectionId),
        },
      }),
    );
    return answer.Items?.[0];
  };

  before(async () => {
    target = await startTarget({ context: { presenceTopics: 'room.*', openTopics: 'lobby' } });
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target.stop();
  });

  it('delivers a topic message to every subscribed connection and to no other', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const topic = unique('news');
    const [ann, bob, cid] = [unique('ann'), unique('bob'), unique('cid')];
    const annSocket = await connect(ann, [topic]);
    const bobSocket = await connect(bob, ['news*']);
    const cidSocket = await connect(cid, [topic]); // may join, does not
    assert.deepEqual(await request(annSocket, { action: 'subscribe', topic }, 'subscribed'), {
      kind: 'subscribed',
      topic,
    });
    assert.equal((await request(bobSocket, { action: 'subscribe', topic }, 'subscribed')).kind, 'subscribed');

    await target.publish(topicEnvelope(topic, { id: unique('m') }));
    for (const socket of [annSocket, bobSocket]) {
      const frame = await socket.next((f) => f.kind === 'message');
      assert.equal(frame.topic, topic);
      assert.deepEqual(frame.data, { headline: topic });
      assert.equal(typeof frame.seq, 'string');
    }
    await target.local?.idle();
    await barrier(cidSocket);
    assert.deepEqual(cidSocket.messages(), []);
  });

  it('refuses a topic the token does not grant with FORBIDDEN naming it, and keeps the connection', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const socket = await connect(unique('eve'), ['news.*']);
    const refused = await request(socket, { action: 'subscribe', topic: 'admin.audit' }, 'subscribed');
    assert.equal(refused.kind, 'error');
    assert.equal(refused.code, 'FORBIDDEN');
    assert.equal(refused.topic, 'admin.audit');
    assert.match(String(refused.message), /admin\.audit/);
    // The prefix grants what it names, open topics are open to all, and the connection is still usable.
    assert.equal(
      (await request(socket, { action: 'subscribe', topic: 'news.sport' }, 'subscribed')).kind,
      'subscribed',
    );
    assert.equal(
      (await request(socket, { action: 'subscribe', topic: 'lobby' }, 'subscribed')).kind,
      'subscribed',
    );
    const bad = await request(socket, { action: 'subscribe', topic: 'a#b' }, 'subscribed');
    assert.equal(bad.code, 'INVALID_REQUEST');
  });

  it("refuses with 403 a token whose topic grants would not fit API Gateway's 8 KB authorizer result", {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const userId = unique('many-topics');
    const topics = Array.from({ length: 400 }, (_, i) => `team.${i}.notifications.*`);
    const token = await target.token(userId, undefined, topics);
    // In the subprotocol header: the URL quota would refuse it in the query string first.
    assert.equal(await refusedStatus(target.outputs.WebSocketUrl, { protocols: [SUBPROTOCOL, token] }), 403);
    // A token granting fewer topics connects as before.
    const fewer = await target.token(userId, undefined, topics.slice(0, 100));
    const socket = await TestSocket.open(target.outputs.WebSocketUrl, { protocols: [SUBPROTOCOL, fewer] });
    sockets.push(socket);
  });

  it('stops delivering after unsubscribe, and ends subscriptions with their connection', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const topic = unique('feed');
    const user = unique('dan');
    const socket = await connect(user, [topic]);
    const other = await connect(user, [topic]);
    await request(socket, { action: 'subscribe', topic }, 'subscribed');
    await request(other, { action: 'subscribe', topic }, 'subscribed');
    assert.deepEqual(await request(socket, { action: 'unsubscribe', topic }, 'unsubscribed'), {
      kind: 'unsubscribed',
      topic,
    });
    await target.publish(topicEnvelope(topic, { data: 'after unsubscribe' }));
    await other.next((f) => f.data === 'after unsubscribe');
    await target.local?.idle();
    await barrier(socket);
    assert.deepEqual(socket.messages(), []);

    const ids = await listUserConnectionsFor(target, user);
    const rows = await Promise.all(ids.map((id) => subscriptionRow(topic, id)));
    const subscribed = ids.filter((_, index) => rows[index] !== undefined);
    assert.equal(subscribed.length, 1, 'only the connection still subscribed has a row');
    const connectionId = subscribed[0] as string;
    await other.close();
    await eventually(
      async () => (await subscriptionRow(topic, connectionId)) === undefined,
      30_000,
      'row deleted',
    );
  });

  it('replays the topic messages a re-subscribing connection missed, in order, after its cursor', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const topic = unique('log');
    const user = unique('fay');
    const first = await connect(user, [topic]);
    await request(first, { action: 'subscribe', topic }, 'subscribed');
    await target.publish(topicEnvelope(topic, { id: unique('seen'), data: 0 }));
    const seen = await first.next((f) => f.kind === 'message');
    await first.close();
    for (let i = 1; i <= 3; i++)
      await target.publish(topicEnvelope(topic, { id: unique('missed'), data: i }));
    await target.local?.idle();

    const second = await connect(user, [topic]);
    second.send({ action: 'subscribe', topic, after: seen.seq });
    await second.next((f) => f.kind === 'subscribed');
    const messages: Frame[] = [];
    for (let from = 0; ; ) {
      const page = await second.next((f) => f.kind === 'backlog', 30_000, from);
      from = second.frames.indexOf(page) + 1;
      assert.equal(page.topic, topic);
      assert.equal(page.gap, false);
      messages.push(...(page.messages as Frame[]));
      if (page.more === false) break;
    }
    const fresh = messages.filter((m) => m.id !== seen.id);
    assert.deepEqual(fresh.map((m) => m.data).sort(), [1, 2, 3]);
    for (const message of fresh) assert.equal(message.topic, topic);
    const seqs = messages.map((m) => String(m.seq));
    assert.deepEqual(seqs, [...seqs].sort(), 'in seq order');
  });

  it('broadcasts to every live connection, and replays broadcasts after a cursor on resume', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const users = [unique('gus'), unique('hal'), unique('ivy')];
    const live = await Promise.all(users.map((user) => connect(user)));
    const id = unique('all');
    await target.publish({ v: 1, to: { all: true }, id, type: 'maintenance', data: 'tonight' });
    for (const socket of live) {
      const frame = await socket.next((f) => f.kind === 'message' && f.id === id);
      assert.equal(frame.broadcast, true);
      assert.equal(frame.data, 'tonight');
    }
    const cursor = String((live[0] as TestSocket).messages().find((f) => f.id === id)?.seq);
    const later = unique('all');
    await target.publish({ v: 1, to: { all: true }, id: later, type: 'maintenance', data: 'moved' });
    await target.local?.idle();

    const back = await connect(unique('jay'));
    back.send({ action: 'resume', broadcastAfter: cursor });
    const page = await back.next((f) => f.kind === 'backlog' && f.broadcast === true);
    const ids = (page.messages as Frame[]).map((m) => m.id);
    assert.ok(ids.includes(later), `the later broadcast is replayed: ${JSON.stringify(ids)}`);
  });

  it('tells a presence topic who joins and who leaves, once per user', { skip: WEBSOCKET_SKIP }, async () => {
    const topic = unique('room.a');
    const [kim, leo] = [unique('kim'), unique('leo')];
    const watcher = await connect(kim, ['room.*']);
    assert.deepEqual(await request(watcher, { action: 'subscribe', topic }, 'subscribed'), {
      kind: 'subscribed',
      topic,
      presence: true,
    });
    const leoPhone = await connect(leo, ['room.*']);
    const leoLaptop = await connect(leo, ['room.*']);
    await request(leoPhone, { action: 'subscribe', topic }, 'subscribed');
    await watcher.next((f) => f.kind === 'presence' && f.user === leo && f.state === 'join');
    await request(leoLaptop, { action: 'subscribe', topic }, 'subscribed');
    await leoPhone.close();
    await target.local?.idle();
    await leoLaptop.close();
    await watcher.next((f) => f.kind === 'presence' && f.user === leo && f.state === 'leave');
    await target.local?.idle();
    await barrier(watcher);
    const about = watcher.frames.filter((f) => f.kind === 'presence' && f.user === leo);
    assert.deepEqual(
      about.map((f) => f.state),
      ['join', 'leave'],
      'a second device joining or the first leaving is no news',
    );
  });

  it('closes every connection of a user on a control envelope, after a disconnect frame', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [mia, ned] = [unique('mia'), unique('ned')];
    const devices = [await connect(mia), await connect(mia)];
    const bystander = await connect(ned);
    await target.publish({ v: 1, to: { users: [mia] }, control: 'disconnect', reason: 'logout' });
    for (const device of devices) {
      await device.next((f) => f.kind === 'disconnect' && f.reason === 'logout');
      await device.closed;
    }
    await barrier(bystander);
  });

  it('rejects a control envelope it cannot carry out, with its reason', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    await target.publish({ v: 1, to: { topic: 'news' }, control: 'disconnect' });
    const rejected = await target.rejected(5);
    assert.ok(
      rejected.some((entry) => /to/.test(entry.reason) && entry.body.includes('"control"')),
      JSON.stringify(rejected),
    );
  });

  it(`holds at most ${MAX_TOPICS_PER_CONNECTION} topics per connection, refused by name, room made by unsubscribing`, {
    skip: WEBSOCKET_SKIP,
    timeout: 120_000,
  }, async () => {
    const ora = unique('ora');
    const socket = await connect(ora, ['cap.*']);
    const topics = Array.from({ length: MAX_TOPICS_PER_CONNECTION }, (_, i) => `cap.${ora}.${i}`);
    for (const topic of topics) {
      assert.equal((await request(socket, { action: 'subscribe', topic }, 'subscribed')).kind, 'subscribed');
    }
    const again = await request(socket, { action: 'subscribe', topic: topics[0] }, 'subscribed');
    assert.equal(again.kind, 'subscribed', 'a topic it holds already takes no second place');

    const extra = `cap.${ora}.extra`;
    const refusal = await request(socket, { action: 'subscribe', topic: extra }, 'subscribed');
    assert.equal(refusal.code, 'TOO_MANY_TOPICS', JSON.stringify(refusal));
    assert.equal(refusal.topic, extra);
    const [connectionId] = await listUserConnectionsFor(target, ora);
    assert.ok(connectionId, 'the connection row');
    assert.ok(await subscriptionRow(topics[2] as string, connectionId), 'a held topic has its row');
    assert.equal(await subscriptionRow(extra, connectionId), undefined, 'no row left behind');

    await request(socket, { action: 'unsubscribe', topic: topics[1] }, 'unsubscribed');
    assert.equal(
      (await request(socket, { action: 'subscribe', topic: extra }, 'subscribed')).kind,
      'subscribed',
    );
    await target.publish(topicEnvelope(extra, { id: unique('m') }));
    assert.equal((await socket.next((f) => f.kind === 'message' && f.topic === extra)).topic, extra);
  });
});
