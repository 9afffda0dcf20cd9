/**
 * Client `send` end to end: user to user and to a topic, the sender stamped from the token, the
 * sender's own devices, idempotency by the sender's id, and each refusal as a typed frame.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PushlineClient } from '../../client/index.ts';
import { estimateFrameBytes, MAX_FRAME_BYTES } from '../../functions/shared/message-frame.ts';
import { connectWithin, LIMIT, newUser, Received, stackClient, waitFor } from '../support/client-harness.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import type { Frame, TestSocket } from '../support/ws-client.ts';

/** Sends a frame and waits for the answer of the given kind (or an error) after it. */
async function request(
  socket: TestSocket,
  frame: Record<string, unknown> | string,
  kind: string,
): Promise<Frame> {
  const from = socket.frames.length;
  socket.send(frame);
  return socket.next((f) => f.kind === kind || f.kind === 'error', 30_000, from);
}

/** A ping answered: every frame the server sent this socket before it has arrived. */
async function barrier(socket: TestSocket): Promise<void> {
  const id = unique('barrier');
  socket.send({ action: 'ping', id });
  await socket.next((f) => f.kind === 'pong' && f.id === id);
}

describe('client send, end to end', () => {
  let target: Target;
  const sockets: TestSocket[] = [];
  const connect = async (userId: string, topics?: string[]) => {
    const socket = await target.connect(userId, { topics });
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

  it("reaches the recipient from the verified sender, and the sender's other devices as read", {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [ann, ben] = [unique('ann'), unique('ben')];
    const [annPhone, annLaptop, benPhone] = [await connect(ann), await connect(ann), await connect(ben)];
    // As typed, with an 18-digit integer; `from` is never trusted: the token says who sends.
    const send = `{"action":"send","id":"hello-1","to":{"user":"${ben}"},"type":"chat.text","data":{"text":"hi","n":654366374251302912},"from":"someone-else"}`;
    const sent = await request(annPhone, send, 'sent');
    assert.equal(sent.kind, 'sent', JSON.stringify(sent));
    assert.equal(sent.id, 'hello-1');
    const messageId = String(sent.messageId);

    const atBen = await benPhone.next((f) => f.kind === 'message' && f.id === messageId);
    assert.equal(atBen.from, ann);
    assert.equal(atBen.type, 'chat.text');
    assert.equal(atBen.read, undefined);
    const text = benPhone.texts.find((t) => t.includes(messageId)) ?? '';
    assert.ok(text.includes('"n":654366374251302912'), `data exactly as written: ${text}`);
    for (const device of [annPhone, annLaptop]) {
      const own = await device.next((f) => f.kind === 'message' && f.id === messageId);
      assert.equal(own.from, ann);
      assert.equal(own.read, true, "the sender's copy is read");
    }

    // Counts on a fresh connection: one unread for the recipient, none for the sender.
    for (const [user, total] of [
      [ben, 1],
      [ann, 0],
    ] as const) {
      const fresh = await connect(user);
      const unread = await request(fresh, { action: 'resume' }, 'unread');
      assert.equal(unread.total, total, user);
    }
  });

  it('delivers a send repeated with the same id once', { skip: WEBSOCKET_SKIP }, async () => {
    const [cas, dov] = [unique('cas'), unique('dov')];
    const [casPhone, dovPhone] = [await connect(cas), await connect(dov)];
    const frame = { action: 'send', id: 'once', to: { user: dov }, type: 'chat.text', data: 'hi' };
    const first = await request(casPhone, frame, 'sent');
    const again = await request(casPhone, frame, 'sent'); // the answer was lost, say
    assert.equal(again.messageId, first.messageId);
    await dovPhone.next((f) => f.kind === 'message' && f.id === first.messageId);
    await target.local?.idle();
    await barrier(dovPhone);
    assert.equal(dovPhone.frames.filter((f) => f.kind === 'message').length, 1);

    // The same id from another user is another message.
    const eli = unique('eli');
    const other = await request(await connect(eli), { ...frame }, 'sent');
    assert.notEqual(other.messageId, first.messageId);
    await dovPhone.next((f) => f.kind === 'message' && f.id === other.messageId && f.from === eli);
  });

  it('sends to a topic its token grants, and refuses one it does not, naming topic and id', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const topic = unique('room');
    const [fay, gus, hal] = [unique('fay'), unique('gus'), unique('hal')];
    const listener = await connect(gus, [topic]);
    assert.equal((await request(listener, { action: 'subscribe', topic }, 'subscribed')).kind, 'subscribed');
    const writer = await connect(fay, [topic]);
    const sent = await request(
      writer,
      { action: 'send', id: 'm1', to: { topic }, type: 'chat.text', data: { text: 'all of you' } },
      'sent',
    );
    const atGus = await listener.next((f) => f.kind === 'message' && f.id === sent.messageId);
    assert.equal(atGus.topic, topic);
    assert.equal(atGus.from, fay);

    const outsider = await connect(hal, ['elsewhere']);
    const refusal = await request(
      outsider,
      { action: 'send', id: 'm2', to: { topic }, type: 'chat.text', data: null },
      'sent',
    );
    assert.deepEqual(
      { code: refusal.code, action: refusal.action, topic: refusal.topic, id: refusal.id },
      { code: 'FORBIDDEN', action: 'send', topic, id: 'm2' },
    );
    await barrier(outsider); // the connection stays open
  });

  it('refuses a message too large to post, and bad fields, each by a typed frame', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [ivy, jon] = [unique('ivy'), unique('jon')];
    const socket = await connect(ivy);
    // Fits the client's frame, not the posted message (which gains id, seq, from and ts).
    const overhead = estimateFrameBytes({
      id: `u:${'k'.repeat(16)}:big`,
      type: 't',
      from: ivy,
      dataJson: '""',
    });
    const data = 'x'.repeat(MAX_FRAME_BYTES - overhead + 1);
    // Over API Gateway's 32 KB frame, so sent in several frames, as AWS requires.
    const from = socket.frames.length;
    socket.sendInFrames({ action: 'send', id: 'big', to: { user: jon }, type: 't', data });
    const tooLarge = await socket.next((f) => f.kind === 'sent' || f.kind === 'error', 30_000, from);
    assert.deepEqual({ code: tooLarge.code, id: tooLarge.id }, { code: 'TOO_LARGE', id: 'big' });
    for (const bad of [
      { action: 'send', to: { user: jon }, type: 't', data: 1 }, // no id
      { action: 'send', id: 'x', to: { service: 'no way' }, type: 't', data: 1 },
      { action: 'send', id: 'x', to: { user: jon }, type: 't' }, // no data
      { action: 'send', id: 'has space', to: { user: jon }, type: 't', data: 1 },
    ]) {
      const answer = await request(socket, bad, 'sent');
      assert.equal(answer.code, 'INVALID_REQUEST', JSON.stringify(bad));
    }
    await barrier(socket);
  });
});

describe('client send with the client SDK', () => {
  let target: Target;
  const clients: PushlineClient[] = [];
  const client = (userId: string) => {
    const made = stackClient(target.outputs, userId);
    clients.push(made);
    return made;
  };
  before(async () => {
    target = await startTarget();
  });
  after(async () => {
    for (const made of clients) made.close();
    await target.stop();
  });

  it("a conversation: the recipient's thread and counts, the sender's own devices", {
    ...LIMIT,
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const [oli, pat] = [newUser('oli'), newUser('pat')];
    const [oliPhone, oliLaptop, patPhone] = [client(oli), client(oli), client(pat)];
    const seen = [oliPhone, oliLaptop, patPhone].map((device) => new Received(device));
    await Promise.all([oliPhone, oliLaptop, patPhone].map((device) => connectWithin(device)));

    const receipt = await oliPhone.send({ to: { user: pat }, type: 'chat.text', data: { text: 'lunch?' } });
    const reply = await patPhone.send({ to: { user: oli }, type: 'chat.text', data: { text: 'yes' } });
    const ids = [receipt.messageId, reply.messageId];
    for (const device of seen) {
      await waitFor(
        () => device.missing(ids).length === 0,
        () => 'both messages on every device of both users',
      );
    }
    const [, laptopSeen, patSeen] = seen as [Received, Received, Received];
    const atPat = patSeen.messages.find((m) => m.id === receipt.messageId);
    assert.deepEqual([atPat?.from, atPat?.read], [oli, false]);
    const ownAtLaptop = laptopSeen.messages.find((m) => m.id === receipt.messageId);
    assert.deepEqual([ownAtLaptop?.from, ownAtLaptop?.read], [oli, true], "the sender's copy, read");
    for (const [device, total] of [
      [oliPhone, 1],
      [oliLaptop, 1],
      [patPhone, 1],
    ] as const) {
      await waitFor(
        () => device.unread?.total === total,
        () => `one unread each (the other's message), got ${JSON.stringify(device.unread)}`,
      );
    }
    for (const device of seen) assert.deepEqual(device.duplicates, []);
  });
});

describe('client send under a deployer rule: no user-to-user, a tight rate', () => {
  let target: Target;
  const sockets: TestSocket[] = [];

  before(async () => {
    target = await startTarget({ context: { sendToUsers: 'false', sendRatePerSecond: '1', sendBurst: '3' } });
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target.stop();
  });

  it('refuses sending to users when the deployment turns it off', { skip: WEBSOCKET_SKIP }, async () => {
    const socket = await target.connect(unique('kim'));
    sockets.push(socket);
    const refusal = await request(
      socket,
      { action: 'send', id: 'a', to: { user: 'lee' }, type: 't', data: null },
      'sent',
    );
    assert.deepEqual({ code: refusal.code, id: refusal.id }, { code: 'FORBIDDEN', id: 'a' });
  });

  it('refuses sends past the burst with RATE_LIMITED, each named, and delivers every accepted one once', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const topic = unique('burst');
    const [mel, ned] = [unique('mel'), unique('ned')];
    const listener = await target.connect(ned, { topics: [topic] });
    const writer = await target.connect(mel, { topics: [topic] });
    sockets.push(listener, writer);
    assert.equal((await request(listener, { action: 'subscribe', topic }, 'subscribed')).kind, 'subscribed');

    // 15 at once against 3 at once and 1 a second: all could pass only if sending took 12 s.
    const ids = Array.from({ length: 15 }, (_, i) => `b${i}`);
    const from = writer.frames.length;
    for (const id of ids) writer.send({ action: 'send', id, to: { topic }, type: 't', data: id });
    const answers = async () =>
      writer.frames
        .slice(from)
        .filter((f) => f.kind === 'sent' || (f.kind === 'error' && f.action === 'send'));
    const deadline = Date.now() + 120_000;
    while ((await answers()).length < ids.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const all = await answers();
    assert.deepEqual(all.map((f) => f.id).sort(), [...ids].sort(), 'one answer per send');
    const accepted = all.filter((f) => f.kind === 'sent');
    const limited = all.filter((f) => f.kind === 'error');
    assert.ok(accepted.length >= 3, `the burst passes: ${accepted.length}`);
    assert.ok(limited.length >= 1, 'some are refused');
    assert.ok(
      limited.every((f) => f.code === 'RATE_LIMITED'),
      JSON.stringify(limited[0]),
    );

    for (const answer of accepted) {
      await listener.next((f) => f.kind === 'message' && f.id === answer.messageId);
    }
    await target.local?.idle();
    await barrier(listener);
    assert.equal(listener.frames.filter((f) => f.kind === 'message').length, accepted.length);
  });
});
