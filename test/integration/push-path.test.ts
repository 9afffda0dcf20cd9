import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { listUserConnectionsFor, storedMessagesFor } from '../support/table.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import { eventually, refusedStatus, TestSocket } from '../support/ws-client.ts';

const envelope = (users: string[], extra: Record<string, unknown> = {}) => ({
  v: 1,
  to: { users },
  type: 'greeting',
  source: 'tests',
  data: { hello: users.join(',') },
  ...extra,
});

describe('the push path, end to end', () => {
  let target: Target;
  const sockets: TestSocket[] = [];
  const connect = async (userId: string) => {
    const socket = await target.connect(userId);
    sockets.push(socket);
    return socket;
  };

  before(async () => {
    target = await startTarget();
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target.stop();
  });

  it('delivers a message to every device of the user', { skip: WEBSOCKET_SKIP }, async () => {
    const alice = unique('alice');
    const devices = await Promise.all([connect(alice), connect(alice), connect(alice)]);
    await target.publish(envelope([alice], { id: unique('m') }));
    for (const device of devices) {
      const frame = await device.next((f) => f.kind === 'message');
      assert.equal(frame.type, 'greeting');
      assert.equal(frame.source, 'tests');
      assert.deepEqual(frame.data, { hello: alice });
      assert.equal(typeof frame.ts, 'number');
      assert.equal(typeof frame.seq, 'string');
    }
  });

  it('never shows one user the messages of another', { skip: WEBSOCKET_SKIP }, async () => {
    const [ann, bob] = [unique('ann'), unique('bob')];
    const [annSocket, bobSocket] = await Promise.all([connect(ann), connect(bob)]);
    await target.publish(envelope([ann], { data: 'for ann' }));
    await target.publish(envelope([bob], { data: 'for bob' }));
    await annSocket.next((f) => f.data === 'for ann');
    await bobSocket.next((f) => f.data === 'for bob');
    await target.local?.idle();
    assert.deepEqual(
      annSocket.messages().map((f) => f.data),
      ['for ann'],
    );
    assert.deepEqual(
      bobSocket.messages().map((f) => f.data),
      ['for bob'],
    );
  });

  it('keeps a connection row younger than the $connect window although the gateway answers 410', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const dora = unique('dora');
    const live = await connect(dora);
    // A row written by a $connect that has not completed yet: API Gateway answers 410 to posts.
    const youngKey = await putConnectionRow(target, dora, 'connecting-id', Date.now());
    await target.publish(envelope([dora]));
    await live.next((f) => f.kind === 'message');
    await target.local?.idle();
    const row = await target.dynamo.send(
      new GetCommand({ TableName: target.outputs.TableName, Key: youngKey }),
    );
    assert.ok(row.Item, 'the connecting connection was not deleted');
  });

  it('deletes exactly the stale connection on 410 and still delivers to the others', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const carol = unique('carol');
    const live = await connect(carol);
    // Well past any $connect.
    const staleKey = await putConnectionRow(target, carol, 'stale-connection-id', Date.now() - 5 * 60_000);
    await target.publish(envelope([carol]));
    await live.next((f) => f.kind === 'message');
    await eventually(
      async () =>
        (await target.dynamo.send(new GetCommand({ TableName: target.outputs.TableName, Key: staleKey })))
          .Item === undefined,
      5000,
      'the stale row to be deleted',
    );
    const remaining = await listUserConnectionsFor(target, carol);
    assert.equal(remaining.length, 1, 'only the live connection is left');
    assert.notEqual(remaining[0], 'stale-connection-id');
  });

  it('refuses a connection without a token with 401', { skip: WEBSOCKET_SKIP }, async () => {
    assert.equal(await refusedStatus(target.outputs.WebSocketUrl), 401);
  });

  it('refuses a bad or expired token with 403', { skip: WEBSOCKET_SKIP }, async () => {
    assert.equal(await refusedStatus(`${target.outputs.WebSocketUrl}?token=not-a-jwt`), 403);
    const expired = await target.token('dave', -60);
    assert.equal(await refusedStatus(`${target.outputs.WebSocketUrl}?token=${expired}`), 403);
  });

  it('ignores a user id the client puts in the query string', { skip: WEBSOCKET_SKIP }, async () => {
    const [erin, victim] = [unique('erin'), unique('victim')];
    const token = await target.token(erin);
    const socket = await TestSocket.open(
      `${target.outputs.WebSocketUrl}?token=${token}&userId=${victim}&user=${victim}`,
    );
    sockets.push(socket);
    await target.publish(envelope([victim], { data: 'secret' }));
    await target.publish(envelope([erin], { data: 'mine' }));
    await socket.next((f) => f.data === 'mine');
    await target.local?.idle();
    assert.ok(
      !socket.messages().some((f) => f.data === 'secret'),
      'erin must not receive the victim message',
    );
  });

  it('echoes the pushline.v1 subprotocol the client offers', { skip: WEBSOCKET_SKIP }, async () => {
    const token = await target.token(unique('frank'));
    const byQuery = await TestSocket.open(`${target.outputs.WebSocketUrl}?token=${token}`, {
      protocols: ['pushline.v1'],
    });
    sockets.push(byQuery);
    assert.equal(byQuery.socket.protocol, 'pushline.v1');
  });

  it('closes the connection with 1009 when a frame is over 128 KB', { skip: WEBSOCKET_SKIP }, async () => {
    const socket = await connect(unique('gina'));
    socket.send(JSON.stringify({ action: 'ping', pad: 'x'.repeat(129 * 1024) }));
    const closed = await Promise.race([socket.closed, timeout(5000)]);
    assert.equal(closed.code, 1009);
  });

  it('answers an unknown action with an error frame and keeps the connection open', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const socket = await connect(unique('hank'));
    socket.send({ action: 'fly' });
    const error = await socket.next((f) => f.kind === 'error');
    assert.equal(error.code, 'UNKNOWN_ACTION');
    socket.send('this is not json');
    const bad = await socket.next((f) => f.kind === 'error' && f.code === 'BAD_FRAME');
    assert.equal(bad.code, 'BAD_FRAME');
    socket.send({ action: 'ping', id: 'p1' });
    const pong = await socket.next((f) => f.kind === 'pong');
    assert.equal(pong.id, 'p1');
  });

  it('rejects an invalid envelope without retrying and keeps it with its reason', async () => {
    const body = JSON.stringify({ v: 1, to: { users: ['x'] }, data: 1 }); // no type
    await target.publish(body);
    await target.publish('not json at all');
    const kept = await collectRejected(target, 2);
    const mine = kept.find((entry) => entry.body === body);
    assert.ok(mine, 'the invalid envelope is in the rejected queue');
    assert.match(mine.reason, /type/);
    assert.ok(kept.some((entry) => entry.body === 'not json at all' && /not JSON/.test(entry.reason)));
    if (target.local) {
      assert.equal(
        target.local.functionStats('deliver').errors,
        0,
        'a rejected envelope is not an invocation error',
      );
    }
  });

  it('rejects a topic name it cannot serve, saying which characters a topic may hold', async () => {
    const body = JSON.stringify({ v: 1, to: { topic: 'orders#eu' }, type: 't', data: null });
    await target.publish(body);
    const kept = await collectRejected(target, 1);
    assert.match(kept.find((entry) => entry.body === body)?.reason ?? '', /may contain only letters, digits/);
  });

  it('carries data byte for byte: an 18-digit integer keeps its digits, live and on resume', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const kim = unique('kim');
    const socket = await connect(kim);
    const errorsBefore = target.local?.functionStats('deliver').errors;
    const body = `{"v":1,"to":{"users":["${kim}"]},"type":"order","data":{"orderId":654366374251302912,"deep":${'['.repeat(40)}1${']'.repeat(40)}}}`;
    await target.publish(body);
    await socket.next((f) => f.kind === 'message');
    const live = socket.texts.find((text) => text.includes('"kind":"message"')) ?? '';
    assert.ok(live.includes('"orderId":654366374251302912'), live);
    socket.send({ action: 'resume' });
    await socket.next((f) => f.kind === 'backlog');
    const backlog = socket.texts.find((text) => text.includes('"kind":"backlog"')) ?? '';
    assert.ok(backlog.includes('"orderId":654366374251302912'), backlog);
    if (target.local) assert.equal(target.local.functionStats('deliver').errors, errorsBefore, 'no retry');
  });

  it('treats a publish to a user with no connection as no error, and keeps the message', async () => {
    const ivan = unique('ivan');
    await target.publish(envelope([ivan], { data: 'while away' }));
    await target.local?.idle();
    if (target.local) assert.equal(target.local.functionStats('deliver').errors, 0);
    let stored: unknown[] = [];
    await eventually(
      async () => {
        stored = await storedMessagesFor(target, ivan);
        return stored.length > 0;
      },
      10_000,
      'the message to be stored',
    );
    assert.deepEqual(stored, ['while away']);
    const rejected = await target.rejected(0);
    assert.deepEqual(
      rejected.filter((entry) => entry.body.includes(ivan)),
      [],
      'the message was not rejected',
    );
  });

  it('still delivers every message when the management API throttles and fails at random', {
    skip: WEBSOCKET_SKIP,
  }, async (t) => {
    if (!target.local) return t.skip('fault knobs exist on the local runtime only');
    const judy = unique('judy');
    const socket = await connect(judy);
    target.local.setFaults({ errorRate: 0.3, errorStatus: 429 });
    try {
      // A post that keeps failing hands its user to Lambda's retry of the event (not marked done),
      // so even push-only messages arrive: each of 3 attempts fails only if 4 posts in a row fail.
      for (let i = 0; i < 10; i++) await target.publish(envelope([judy], { data: i, persist: false }));
      await eventually(
        () => new Set(socket.messages().map((f) => f.data)).size === 10,
        60_000,
        'all 10 messages',
      );
    } finally {
      target.local.setFaults({});
    }
  });
});

/** Writes a connection row for a connection the gateway does not know; returns its key. */
async function putConnectionRow(target: Target, userId: string, connectionId: string, connectedAt: number) {
  const key = {
    [TABLE_SCHEMA.partitionKey]: KEY.user(userId),
    [TABLE_SCHEMA.sortKey]: KEY.connection(connectionId),
  };
  await target.dynamo.send(
    new PutCommand({
      TableName: target.outputs.TableName,
      Item: { ...key, userId, connectionId, connectedAt, expiresAt: Math.floor(Date.now() / 1000) + 3600 },
    }),
  );
  return key;
}

async function collectRejected(target: Target, atLeast: number) {
  const kept: { body: string; reason: string }[] = [];
  const deadline = Date.now() + 30_000;
  while (kept.length < atLeast && Date.now() < deadline) kept.push(...(await target.rejected(1)));
  return kept;
}

function timeout(ms: number): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms));
}
