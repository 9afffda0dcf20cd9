import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PushlineClient } from '../../client/index.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import {
  connectWithin,
  LIMIT,
  newUser,
  publisher,
  Received,
  SocketTracker,
  sleep,
  stackClient,
  waitFor,
} from '../support/client-harness.ts';

/**
 * API Gateway's limits, scaled down: 2 hours become 15 s, 10 minutes become 6 s. Not less: a resume
 * answered by a cold Lambda worker on a loaded machine can take seconds, and the gateway counts that
 * as idle time, while the scenarios need the limits to be long against the Lambda latency, as on AWS
 * (with 10 s and 4 s, a machine loaded by other work saw a rollover's new connection take longer
 * than the 7 s left before the cut).
 */
const MAX_CONNECTION_MS = 15_000;
const IDLE_TIMEOUT_MS = 6000;

describe('the client SDK against short API Gateway connection limits', () => {
  let stack: LocalStack;
  let sns: ReturnType<typeof publisher>;
  const clients: PushlineClient[] = [];

  const client = (userId: string, options: Parameters<typeof stackClient>[2]) => {
    const made = stackClient(stack.outputs, userId, options);
    clients.push(made);
    return made;
  };

  /** Publishes `count` messages to `userId`, one every `everyMs`; returns their ids. */
  const stream = async (userId: string, count: number, everyMs: number): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const id = `${userId}-m${i}`;
      ids.push(id);
      await sns.publish({ id, to: { users: [userId] }, type: 'tick', data: { i } });
      await sleep(everyMs);
    }
    return ids;
  };

  before(async () => {
    stack = await startLocalStack({
      quiet: true,
      console: false,
      ports: { gateway: 0, aws: 0 },
      maxConnectionMs: MAX_CONNECTION_MS,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
    });
    sns = publisher(stack.outputs);
  });

  after(async () => {
    for (const made of clients) made.close();
    sns?.close();
    await stack?.stop();
  });

  it(
    'rolls over to a new connection before the maximum connection time, losing and repeating nothing',
    LIMIT,
    async () => {
      const user = newUser('rollover');
      const sockets = new SocketTracker();
      const device = client(user, { WebSocket: sockets.WebSocket, rolloverAfterMs: 3000, heartbeatMs: 800 });
      const received = new Received(device);
      await connectWithin(device);

      const ids = await stream(user, 60, 150); // about 10 s: several rollovers, none near the cut
      await waitFor(
        () => received.missing(ids).length === 0,
        () => `missing ${received.missing(ids).join(', ')}`,
      );
      await stack.idle();
      await device.ping(); // Frames pushed before the pong have arrived: a late duplicate would show.

      assert.deepEqual(received.duplicates, []);
      assert.equal(received.messages.length, ids.length);
      assert.ok(sockets.sockets.length >= 3, `${sockets.sockets.length} connections`);
      assert.ok(
        !received.states.includes('reconnecting'),
        `states: ${received.states.join(', ')}; errors: ${received.errors.map((e) => e.message).join(' | ')}; ends: ${JSON.stringify(sockets.ends)}`,
      );
      // Every connection was closed by the client (1000), none by the gateway's cut (1001).
      assert.ok(sockets.ends.length >= 2);
      for (const end of sockets.ends) assert.equal(end.code, 1000, JSON.stringify(sockets.ends));
    },
  );

  it(
    'reconnects when the gateway cuts a connection at the maximum time and still loses nothing',
    LIMIT,
    async () => {
      const user = newUser('cut');
      const sockets = new SocketTracker();
      const device = client(user, { WebSocket: sockets.WebSocket, rolloverAfterMs: 0, heartbeatMs: 800 });
      const received = new Received(device);
      await connectWithin(device);

      const ids = await stream(user, 120, 150); // about 19 s: at least one cut at 15 s
      await waitFor(
        () => received.missing(ids).length === 0,
        () => `missing ${received.missing(ids).join(', ')}`,
      );
      await stack.idle();
      await waitFor(
        () => device.state === 'open',
        () => `the client open again, state ${device.state}`,
        30_000,
      );
      await device.ping(); // Frames pushed before the pong have arrived: a late duplicate would show.

      assert.deepEqual(received.duplicates, []);
      assert.ok(
        sockets.ends.some((end) => end.code === 1001),
        JSON.stringify(sockets.ends),
      );
      assert.ok(received.states.includes('reconnecting'));
    },
  );

  it('keeps a silent connection past the idle timeout with heartbeats', LIMIT, async () => {
    const user = newUser('idle');
    const kept = new SocketTracker();
    const alive = client(user, { WebSocket: kept.WebSocket, rolloverAfterMs: 0, heartbeatMs: 600 });
    const dropped = new SocketTracker();
    const silent = client(user, { WebSocket: dropped.WebSocket, rolloverAfterMs: 0, heartbeatMs: 60_000 });
    // The heartbeating one first: when the gateway cuts the silent one (idle since after this one
    // last had traffic of its own), this one has been open longer than the idle timeout.
    await connectWithin(alive);
    await connectWithin(silent);

    await waitFor(
      () => dropped.ends.some((end) => end.code === 1001),
      () => `the gateway to cut the silent socket: ${JSON.stringify(dropped.ends)}`,
      30_000,
    );
    await alive.ping();

    assert.equal(kept.sockets.length, 1, JSON.stringify(kept.ends));
    assert.equal(alive.state, 'open');
    await waitFor(
      () => silent.state === 'open',
      () => 'the silent client to reconnect',
    );
  });
});
