import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { PushlineClient } from '../../client/index.ts';
import { newSeq } from '../../functions/domain/seq.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import type { Frame, TestSocket } from '../support/ws-client.ts';
import { eventually } from '../support/ws-client.ts';

interface Message {
  id: string;
  seq: string;
  data: unknown;
  source?: string;
  read?: boolean;
}

// Every scenario here talks through a socket.
describe('the inbox: stored messages, resume, acknowledgements, idempotency', {
  skip: WEBSOCKET_SKIP,
}, () => {
  let target: Target;
  const sockets: TestSocket[] = [];
  const connect = async (userId: string) => {
    const socket = await target.connect(userId);
    sockets.push(socket);
    return socket;
  };
  const publish = (userId: string, data: unknown, extra: Record<string, unknown> = {}) =>
    target.publish({ v: 1, to: { users: [userId] }, type: 'note', source: 'crm', data, ...extra });

  /** Sends resume and collects the unread frame and every backlog page. */
  const resume = async (socket: TestSocket, request: Record<string, unknown> = {}) => {
    const from = socket.frames.length;
    socket.send({ action: 'resume', ...request });
    const unread = await socket.next((f) => f.kind === 'unread', 30_000, from);
    const pages: Frame[] = [];
    for (;;) {
      const page = await socket.next((f) => f.kind === 'backlog' && !pages.includes(f), 30_000, from);
      pages.push(page);
      if (page.more === false) break;
    }
    return { unread, pages, messages: pages.flatMap((page) => page.messages as Message[]) };
  };

  before(async () => {
    target = await startTarget();
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target.stop();
  });

  it('gives an offline user the backlog in publish order and the unread count on resume', async () => {
    const kim = unique('kim');
    for (let i = 0; i < 5; i++) {
      await publish(kim, i, { source: i % 2 === 0 ? 'crm' : 'billing' });
      await target.local?.idle();
    }
    const socket = await connect(kim);
    const { unread, messages, pages } = await resume(socket);
    assert.deepEqual(
      messages.map((m) => m.data),
      [0, 1, 2, 3, 4],
    );
    const seqs = messages.map((m) => m.seq);
    assert.deepEqual([...seqs].sort(), seqs, 'seqs sort in publish order');
    assert.equal(unread.total, 5);
    assert.deepEqual(unread.bySource, { crm: 3, billing: 2 });
    assert.equal(pages[0]?.gap, false);
  });

  it('resumes after a cursor with every newer message and no gap', async () => {
    const lee = unique('lee');
    for (let i = 0; i < 3; i++) {
      await publish(lee, `old-${i}`);
      await target.local?.idle();
    }
    const first = await connect(lee);
    const { messages: seen } = await resume(first);
    const cursor = seen.at(-1)?.seq;
    await first.close();
    for (let i = 0; i < 3; i++) {
      await publish(lee, `new-${i}`);
      await target.local?.idle();
    }
    const second = await connect(lee);
    const { messages, pages } = await resume(second, { after: cursor });
    const fresh = messages.filter((m) => String(m.data).startsWith('new-')).map((m) => m.data);
    assert.deepEqual(fresh, ['new-0', 'new-1', 'new-2']);
    assert.equal(pages[0]?.gap, false);
  });

  it('flags a gap when the history no longer reaches back to the cursor', async () => {
    const mo = unique('mo');
    await publish(mo, 'recent');
    await target.local?.idle();
    const socket = await connect(mo);
    const { pages } = await resume(socket, { after: newSeq(Date.now() - 40 * 24 * 3600 * 1000) });
    assert.equal(pages[0]?.gap, true);
  });

  it('answers a resume with a malformed cursor with INVALID_REQUEST', async () => {
    const socket = await connect(unique('ned'));
    socket.send({ action: 'resume', after: 'not-a-seq' });
    const error = await socket.next((f) => f.kind === 'error');
    assert.equal(error.code, 'INVALID_REQUEST');
  });

  it('stores and pushes a message published twice with the same id only once', async () => {
    const ola = unique('ola');
    const [phone, laptop] = await Promise.all([connect(ola), connect(ola)]);
    const id = unique('order-42');
    await publish(ola, 'first', { id });
    await publish(ola, 'first', { id });
    await target.local?.idle();
    await phone.next((f) => f.kind === 'message');
    await laptop.next((f) => f.kind === 'message');
    assert.equal(phone.messages().length, 1, 'one push per connection');
    assert.equal(laptop.messages().length, 1, 'one push per connection');
    const { messages, unread } = await resume(phone);
    assert.equal(messages.filter((m) => m.id === id).length, 1, 'one stored copy');
    assert.equal(unread.total, 1);
  });

  it('stores and pushes once when SNS delivers the same message twice', async (t) => {
    if (!target.local) return t.skip('replaying an SNS event needs the local runtime');
    const sam = unique('sam');
    const socket = await connect(sam);
    const snsMessageId = unique('sns-message');
    const event = snsEvent(target.outputs.TopicArn, snsMessageId, {
      v: 1,
      to: { users: [sam] },
      type: 'note',
      data: 'twice',
    });
    await target.local.invoke('deliver', event);
    await target.local.invoke('deliver', event);
    await socket.next((f) => f.kind === 'message');
    const { messages } = await resume(socket);
    assert.equal(socket.messages().length, 1, 'one push');
    assert.deepEqual(
      messages.map((m) => m.id),
      [snsMessageId],
      'one stored copy, keyed by the SNS message id',
    );
  });

  it('does not keep a message published with persist false', async () => {
    const pat = unique('pat');
    const socket = await connect(pat);
    await publish(pat, 'live only', { persist: false });
    const live = await socket.next((f) => f.kind === 'message');
    assert.equal(live.seq, undefined);
    const { messages, unread } = await resume(socket);
    assert.equal(messages.length, 0);
    assert.equal(unread.total, 0);
  });

  it('marks messages read, updates the counts and tells every device of the user', async () => {
    const quinn = unique('quinn');
    const [phone, laptop] = await Promise.all([connect(quinn), connect(quinn)]);
    await publish(quinn, 'a', { source: 'crm' });
    await publish(quinn, 'b', { source: 'billing' });
    await phone.next((f) => f.kind === 'message' && f.data === 'b');
    await target.local?.idle();
    const id = phone.messages().find((f) => f.data === 'a')?.id;
    phone.send({ action: 'ack', ids: [id] });
    for (const device of [phone, laptop]) {
      const read = await device.next((f) => f.kind === 'read');
      assert.deepEqual(read.ids, [id]);
      const { version, ...counts } = read.unread as { version: number };
      assert.deepEqual(counts, { total: 1, bySource: { billing: 1 } });
      assert.equal(typeof version, 'number');
    }
    const { messages } = await resume(laptop);
    assert.equal(messages.find((m) => m.id === id)?.read, true);
    assert.equal(messages.find((m) => m.data === 'b')?.read, undefined);
  });

  it('marks every unread message of one source read with ack all, loaded or not', async () => {
    const tia = unique('tia');
    for (let i = 0; i < 5; i++) await publish(tia, i, { source: i < 3 ? 'crm' : 'billing' });
    await target.local?.idle();
    const [phone, laptop] = await Promise.all([connect(tia), connect(tia)]);
    phone.send({ action: 'ack', all: true, source: 'crm' });
    for (const device of [phone, laptop]) {
      const read = await device.next((f) => f.kind === 'read');
      assert.equal((read.ids as string[]).length, 3);
      assert.equal(read.more, undefined);
      const { version: _version, ...counts } = read.unread as { version: number };
      assert.deepEqual(counts, { total: 2, bySource: { billing: 2 } });
    }
    const { messages } = await resume(laptop);
    assert.deepEqual(
      messages.filter((m) => m.read === true).map((m) => m.data),
      [0, 1, 2],
    );
  });

  it('pages through older messages with history, newest first, per source', async () => {
    const uma = unique('uma');
    for (let i = 0; i < 7; i++) {
      await publish(uma, i, { source: i % 2 === 0 ? 'crm' : 'billing' });
      await target.local?.idle();
    }
    const socket = await connect(uma);
    const ask = async (request: Record<string, unknown>) => {
      const id = unique('h');
      socket.send({ action: 'history', id, ...request });
      return socket.next((f) => f.kind === 'history' && f.id === id);
    };
    const first = await ask({ limit: 3 });
    const firstPage = first.messages as Message[];
    assert.deepEqual(
      firstPage.map((m) => m.data),
      [6, 5, 4],
    );
    assert.equal(first.more, true);
    const second = await ask({ limit: 3, before: firstPage.at(-1)?.seq });
    assert.deepEqual(
      (second.messages as Message[]).map((m) => m.data),
      [3, 2, 1],
    );
    const crm = await ask({ source: 'crm' });
    assert.deepEqual(
      (crm.messages as Message[]).map((m) => m.data),
      [6, 4, 2, 0],
    );
    assert.equal(crm.more, false);
  });

  it('gives the SDK older pages through history()', async () => {
    const vic = unique('vic');
    for (let i = 0; i < 5; i++) {
      await publish(vic, i);
      await target.local?.idle();
    }
    const client = new PushlineClient({
      url: target.outputs.WebSocketUrl,
      token: () => target.token(vic),
      WebSocket,
    });
    try {
      await client.connect();
      const newest = await client.history({ limit: 2 });
      assert.deepEqual(
        newest.messages.map((m) => m.data),
        [4, 3],
      );
      assert.equal(newest.more, true);
      const older = await client.history({ limit: 10, before: newest.messages.at(-1)?.seq });
      assert.deepEqual(
        older.messages.map((m) => m.data),
        [2, 1, 0],
      );
      assert.equal(older.more, false);
    } finally {
      client.close();
    }
  });

  it('keeps unread counts right under concurrent acks from several devices', async () => {
    const rae = unique('rae');
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const id = unique(`n${i}`);
      ids.push(id);
      await publish(rae, i, { id, source: i < 6 ? 'crm' : 'billing' });
    }
    await target.local?.idle();
    const devices = await Promise.all([connect(rae), connect(rae), connect(rae)]);
    // Every device acks an overlapping half of the messages at the same moment.
    devices[0]?.send({ action: 'ack', ids: ids.slice(0, 8) });
    devices[1]?.send({ action: 'ack', ids: ids.slice(2, 10) });
    devices[2]?.send({ action: 'ack', ids: ids.slice(0, 10) });
    const probe = devices[0] as TestSocket;
    const { unread } = await (async () => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const state = await resume(probe);
        if (state.unread.total === 2 || Date.now() > deadline) return state;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    assert.equal(unread.total, 2);
    assert.deepEqual(unread.bySource, { billing: 2 });
    // Each id is announced as newly read exactly once, whichever device won the race for it.
    const announced = () => probe.frames.filter((f) => f.kind === 'read').flatMap((f) => f.ids as string[]);
    await eventually(() => new Set(announced()).size === 10, 30_000, 'read frames for all ten ids');
    assert.equal(announced().length, 10, 'no id announced twice');
  });
});

/** An SNS event exactly as Lambda receives it, for replaying one delivery. */
function snsEvent(topicArn: string, messageId: string, envelope: unknown) {
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${topicArn}:replay`,
        Sns: {
          Type: 'Notification',
          MessageId: messageId,
          TopicArn: topicArn,
          Subject: null,
          Message: JSON.stringify(envelope),
          Timestamp: new Date().toISOString(),
          SignatureVersion: '1',
          Signature: '',
          SigningCertUrl: '',
          UnsubscribeUrl: '',
          MessageAttributes: {},
        },
      },
    ],
  };
}
