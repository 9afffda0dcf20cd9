import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { KEY, TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { AUDIENCE_SHARDS } from '../../functions/shared/topics.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import { eventually, type TestSocket } from '../support/ws-client.ts';

/** Real connections the broadcast must reach. */
const CONNECTIONS = 2_000;

/** The split threshold of this stack: each invocation posts to at most this many connections. */
const PER_INVOCATION = 50;

/** Connections opened at once (each runs the authorizer and `$connect`). */
const OPENING_BATCH = 50;

/** Every connection is two sockets in this process (client and gateway), plus headroom. */
const openFileLimit = (): number => {
  try {
    return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  } catch {
    return 0;
  }
};
const FD_SKIP =
  WEBSOCKET_SKIP ||
  (openFileLimit() < CONNECTIONS * 2 + 1_000
    ? `needs an open-file limit of ${CONNECTIONS * 2 + 1_000}`
    : false);

describe('a broadcast larger than one invocation', () => {
  let target: Target;
  const sockets: TestSocket[] = [];

  before(async () => {
    target = await startTarget({ context: { fanoutConnectionsPerInvocation: String(PER_INVOCATION) } });
  });
  after(async () => {
    for (let i = 0; i < sockets.length; i += 200) {
      await Promise.all(sockets.slice(i, i + 200).map((socket) => socket.close()));
    }
    await target.stop();
  });

  it(`reaches each of ${CONNECTIONS} real connections exactly once, split across invocations`, {
    skip: FD_SKIP,
    timeout: 8 * 60_000,
  }, async () => {
    for (let opened = 0; opened < CONNECTIONS; opened += OPENING_BATCH) {
      const users = Array.from({ length: Math.min(OPENING_BATCH, CONNECTIONS - opened) }, (_, i) =>
        unique(`u${opened + i}`),
      );
      sockets.push(...(await Promise.all(users.map((user) => target.connect(user)))));
    }
    assert.equal(sockets.length, CONNECTIONS);
    const invocationsBefore = target.local?.functionStats('fanout').invocations ?? 0;

    const id = unique('broadcast');
    await target.publish({ v: 1, id, to: { all: true }, type: 'notice', data: 'to everyone' });
    const reached = () => sockets.filter((socket) => socket.messages().some((f) => f.id === id)).length;
    await eventually(() => reached() === CONNECTIONS, 5 * 60_000, `all ${CONNECTIONS} connections reached`);
    await target.local?.idle(60_000);

    for (const [index, socket] of sockets.entries()) {
      const copies = socket.messages().filter((f) => f.id === id).length;
      assert.equal(copies, 1, `connection ${index} got the broadcast ${copies} times`);
    }
    // Parts: one per shard at least, and more because no invocation may post to more than PER_INVOCATION.
    const parts = await target.dynamo.send(
      new QueryCommand({
        TableName: target.outputs.TableName,
        ConsistentRead: true,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': TABLE_SCHEMA.partitionKey },
        ExpressionAttributeValues: { ':pk': KEY.fanout(id) },
      }),
    );
    const partCount = parts.Items?.length ?? 0;
    assert.ok(
      partCount >= Math.ceil(CONNECTIONS / PER_INVOCATION),
      `${partCount} parts for ${CONNECTIONS} connections at ${PER_INVOCATION} per invocation`,
    );
    assert.ok(partCount > AUDIENCE_SHARDS);
    assert.ok(
      parts.Items?.every((part) => part.state === 'done'),
      'every part finished',
    );
    if (target.local) {
      const invocations = target.local.functionStats('fanout').invocations - invocationsBefore;
      assert.ok(invocations >= partCount, `${invocations} fan-out invocations for ${partCount} parts`);
    }
  });
});
