import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listUserConnectionsFor } from '../support/table.ts';
import { startTarget, type Target, unique } from '../support/target.ts';
import { eventually, type TestSocket } from '../support/ws-client.ts';

/** How long the local gateway holds each handshake open after `$connect` returned. */
const HOLD_MS = 5_000;

/**
 * API Gateway answers 410 to posts to a connection whose `$connect` has not completed. The local
 * gateway's hold knob makes that window long enough to publish into, every time.
 */
describe('a connection inside its $connect window', () => {
  let target: Target;
  const sockets: TestSocket[] = [];

  before(async () => {
    target = await startTarget({ connectHoldMs: HOLD_MS });
    // A first delivery warms the deliver function, so that its cold start cannot outlast the hold.
    await target.publish({ v: 1, to: { users: [unique('warm-up')] }, type: 'warm', data: null });
    await target.local?.idle();
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target?.stop();
  });

  /**
   * Starts connecting and resolves once `$connect` stored the row, while the handshake is still held.
   * The socket's promise comes wrapped: an async function returning a bare promise would wait for it.
   */
  async function connectHeld(userId: string): Promise<{ opening: Promise<TestSocket> }> {
    const opening = target.connect(userId).then((socket) => {
      sockets.push(socket);
      return socket;
    });
    await eventually(
      async () => (await listUserConnectionsFor(target, userId)).length === 1,
      HOLD_MS,
      'the $connect function to record the connection',
    );
    return { opening };
  }

  it('keeps its row and gets a push-only message published meanwhile once it opens', async (t) => {
    if (!target.local) return t.skip('the hold knob exists on the local runtime only');
    const user = unique('held');
    const { opening } = await connectHeld(user);
    await target.publish({
      v: 1,
      to: { users: [user] },
      type: 'flash',
      data: 'during $connect',
      persist: false,
    });
    const socket = await opening;
    const frame = await socket.next((f) => f.kind === 'message', 30_000);
    assert.equal(frame.data, 'during $connect');
    await target.local.idle();
    assert.equal((await listUserConnectionsFor(target, user)).length, 1, 'the row was not deleted');
  });

  it('gets a stored message published meanwhile from its first resume, and keeps its row', async (t) => {
    if (!target.local) return t.skip('the hold knob exists on the local runtime only');
    const user = unique('held');
    const { opening } = await connectHeld(user);
    await target.publish({ v: 1, id: unique('kept'), to: { users: [user] }, type: 'note', data: 'kept' });
    await target.local.idle();
    const socket = await opening;
    socket.send({ action: 'resume' });
    const backlog = await socket.next((f) => f.kind === 'backlog', 30_000);
    assert.deepEqual(
      (backlog.messages as { data: unknown }[]).map((m) => m.data),
      ['kept'],
    );
    assert.equal((await listUserConnectionsFor(target, user)).length, 1, 'the row was not deleted');
  });
});
