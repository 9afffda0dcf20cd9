import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CONNECT_WINDOW_MS,
  CONNECTING_RETRY_DELAYS_MS,
  deliver,
  postToUser,
  type UserDelivery,
} from '../../functions/domain/delivery.ts';
import { acknowledge, acknowledgeAll, backlogFrames } from '../../functions/domain/inbox.ts';
import { memoryPorts } from '../support/fakes.ts';

let counter = 0;
function message(overrides: Partial<UserDelivery> = {}): UserDelivery {
  return {
    id: `m${++counter}`,
    users: ['alice'],
    type: 'note',
    source: 'crm',
    dataJson: '{"n":1}',
    ts: Date.now(),
    persist: true,
    retentionSeconds: 3600,
    ...overrides,
  };
}
const options = (owner = 'attempt-1') => ({ owner, postConcurrency: 4, tableConcurrency: 4 });

describe('the delivery sequence', () => {
  it('stores the message and posts it to every connection of every user', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    ports.connections.add('alice', 'a2');
    ports.connections.add('bob', 'b1');
    const report = await deliver(ports, message({ users: ['alice', 'bob'] }), options());
    assert.equal(report.delivered, 3);
    assert.deepEqual(report.retryUsers, []);
    assert.equal((await ports.inbox.unread('alice', Date.now())).total, 1);
    const [text] = ports.poster.deliveredTo('b1');
    assert.match(
      text ?? '',
      /^\{"kind":"message","id":"m\d+","seq":"[0-9A-Z]{26}","type":"note","source":"crm","ts":\d+,"data":\{"n":1\}\}$/,
    );
  });

  it("names the sender on every copy, and stores the sender's own copy as read", async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    ports.connections.add('bob', 'b1');
    await deliver(ports, message({ users: ['bob', 'alice'], from: 'alice' }), options());
    const [toBob] = ports.poster.deliveredTo('b1');
    const [own] = ports.poster.deliveredTo('a1');
    assert.equal(JSON.parse(toBob ?? '{}').from, 'alice');
    assert.equal(JSON.parse(toBob ?? '{}').read, undefined);
    assert.equal(JSON.parse(own ?? '{}').from, 'alice');
    assert.equal(JSON.parse(own ?? '{}').read, true, "the sender's copy is read");
    assert.equal((await ports.inbox.unread('bob', Date.now())).total, 1);
    assert.equal((await ports.inbox.unread('alice', Date.now())).total, 0, 'never unread for the sender');
    const replayed: string[] = [];
    for await (const page of backlogFrames(ports.inbox, 'alice', { nowMs: Date.now() })) replayed.push(page);
    const [stored] = JSON.parse(replayed[0] ?? '{}').messages;
    assert.equal(stored.from, 'alice');
    assert.equal(stored.read, true, 'read in the replay too');
  });

  it('keeps a message its user mutes (by type or source) as read, pushes it to no device, and never mutes a mandatory type', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    ports.connections.add('bob', 'b1');
    ports.connections.preferences.set('alice', { mutedTypes: ['promo'], mutedSources: ['ads'], version: 1 });
    const byType = await deliver(
      ports,
      message({ users: ['alice', 'bob'], type: 'promo', source: undefined }),
      options(),
    );
    assert.equal(byType.muted, 1);
    assert.deepEqual(ports.poster.deliveredTo('a1'), [], 'not pushed');
    assert.equal(ports.poster.deliveredTo('b1').length, 1, 'another user is not affected');
    assert.equal((await ports.inbox.unread('alice', Date.now())).total, 0, 'not counted');
    await deliver(ports, message({ users: ['alice'], type: 'note', source: 'ads' }), options());
    assert.deepEqual(ports.poster.deliveredTo('a1'), [], 'muted by its source');
    const replay: string[] = [];
    for await (const page of backlogFrames(ports.inbox, 'alice', { nowMs: Date.now() })) replay.push(page);
    const kept = JSON.parse(replay[0] ?? '{}').messages as { read?: boolean }[];
    assert.deepEqual(
      kept.map((m) => m.read),
      [true, true],
      'kept, as read',
    );

    await deliver(ports, message({ users: ['alice'], type: 'promo' }), {
      ...options(),
      mandatoryTypes: ['promo'],
    });
    assert.equal(ports.poster.deliveredTo('a1').length, 1, 'a mandatory type reaches the user anyway');
  });

  it('reports each user reached with the connections its message was posted to', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    ports.connections.add('alice', 'a2');
    ports.poster.answers.set('a2', ['gone']);
    const report = await deliver(ports, message({ users: ['alice', 'bob'] }), options());
    assert.deepEqual(
      [...report.reached].sort((a, b) => a.userId.localeCompare(b.userId)),
      [
        { userId: 'alice', connections: 1 },
        { userId: 'bob', connections: 0 },
      ],
    );
  });

  it("posts to a user's connections as soon as that user's table work returns, while another user's claim is still in flight", async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    ports.connections.add('bob', 'b1');
    const events: string[] = [];
    let alicePosted = () => {};
    const posted = new Promise<void>((resolve) => {
      alicePosted = resolve;
    });
    const post = ports.poster.post.bind(ports.poster);
    ports.poster.post = async (connectionId, text) => {
      events.push(`post ${connectionId}`);
      if (connectionId === 'a1') alicePosted();
      return post(connectionId, text);
    };
    const claim = ports.inbox.claim.bind(ports.inbox);
    ports.inbox.claim = async (userId, row) => {
      // Bob's claim is answered only once Alice's post started (or after a second: then the posts
      // waited for every user's table work, and the order below fails).
      if (userId === 'bob') await Promise.race([posted, new Promise((resolve) => setTimeout(resolve, 1000))]);
      events.push(`claimed ${userId}`);
      return claim(userId, row);
    };
    const report = await deliver(ports, message({ users: ['alice', 'bob'] }), options());
    assert.equal(report.delivered, 2);
    assert.deepEqual(events, ['claimed alice', 'post a1', 'claimed bob', 'post b1']);
  });

  it('costs one table write and one lookup per user for a stored message', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    await deliver(ports, message(), options());
    assert.deepEqual(
      ports.inbox.calls.map((call) => call.method),
      ['claim'],
      'the claim is the only inbox call; the lookup is the connection table',
    );
  });

  it('posts the data text exactly as published, an 18-digit integer included', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    await deliver(ports, message({ dataJson: '{"orderId":654366374251302912, "deep":[[[1]]]}' }), options());
    assert.ok(
      ports.poster.deliveredTo('a1')[0]?.endsWith(',"data":{"orderId":654366374251302912, "deep":[[[1]]]}}'),
    );
  });

  it('stores and pushes a duplicate of a delivered message nothing more, and raises no error', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    const first = message();
    await deliver(ports, first, options('attempt-1'));
    const replay = await deliver(ports, first, options('attempt-2'));
    assert.equal(replay.duplicates, 1);
    assert.deepEqual(replay.retryUsers, []);
    assert.equal(ports.poster.deliveredTo('a1').length, 1);
    assert.equal((await ports.inbox.unread('alice', Date.now())).total, 1);
  });

  it('pushes concurrent duplicates once', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    const same = message();
    const reports = await Promise.all([
      deliver(ports, same, options('attempt-1')),
      deliver(ports, same, options('attempt-2')),
      deliver(ports, same, options('attempt-3')),
    ]);
    assert.equal(ports.poster.deliveredTo('a1').length, 1);
    assert.equal(
      reports.reduce((sum, report) => sum + report.duplicates, 0),
      2,
    );
  });

  it('treats its own put, retried by the SDK after a lost answer, as its own', async () => {
    const ports = memoryPorts();
    ports.connections.add('alice', 'a1');
    const same = message();
    // The first put landed but its answer was lost: the same attempt claims again.
    await ports.inbox.claim('alice', {
      ...same,
      seq: '01M0000000AAAAAAAAAAAAAAAA',
      expiresAt: 9e9,
      owner: 'attempt-1',
    });
    const report = await deliver(ports, same, options('attempt-1'));
    assert.equal(report.delivered, 1);
  });

  describe('one user failing', () => {
    it('does not hold up the other users, and hands only the failing user to the retry', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'a1');
      ports.connections.add('bob', 'b1');
      ports.inbox.faults = [{ method: 'claim', userId: 'bob', times: 1 }];
      const same = message({ users: ['alice', 'bob'] });
      const first = await deliver(ports, same, options('attempt-1'));
      assert.deepEqual(first.retryUsers, ['bob']);
      assert.equal(ports.poster.deliveredTo('a1').length, 1, 'alice got it in the first attempt');

      const retry = await deliver(ports, same, options('attempt-2'));
      assert.deepEqual(retry.retryUsers, []);
      assert.equal(ports.poster.deliveredTo('b1').length, 1, 'bob got it in the retry');
      assert.equal(ports.poster.deliveredTo('a1').length, 1, 'alice was not pushed again');
    });

    it('retries a user whose post kept failing instead of marking it delivered', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'a1');
      ports.poster.answers.set('a1', ['failed', 'delivered']);
      const same = message({ persist: false });
      const first = await deliver(ports, same, options('attempt-1'));
      assert.deepEqual(first.retryUsers, ['alice']);
      const retry = await deliver(ports, same, options('attempt-2'));
      assert.deepEqual(retry.retryUsers, []);
      assert.equal(ports.poster.deliveredTo('a1').length, 1, 'the push-only message reached the device');
    });

    it('hands back a user whose connection lookup failed, keeping the stored copy and its seq', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'a1');
      ports.connections.failingUsers.add('alice');
      const same = message();
      const first = await deliver(ports, same, options('attempt-1'));
      assert.deepEqual(first.retryUsers, ['alice']);
      ports.connections.failingUsers.clear();
      await deliver(ports, same, options('attempt-2'));
      const stored = [...(ports.inbox.rows.get('alice')?.values() ?? [])];
      assert.equal(stored.length, 1, 'one stored copy');
      assert.ok(ports.poster.deliveredTo('a1')[0]?.includes(`"seq":"${stored[0]?.seq}"`));
      assert.equal((await ports.inbox.unread('alice', Date.now())).total, 1, 'counted once');
    });

    it('hands users back to the retry once the deadline has come', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'a1');
      const report = await deliver(ports, message(), { ...options(), deadlineMs: Date.now() - 1 });
      assert.deepEqual(report.retryUsers, ['alice']);
      assert.equal(ports.poster.posts.length, 0);
    });
  });

  describe('a connection still in its $connect', () => {
    it('is not pruned when it answers 410, and gets a push-only message once its handshake completes', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'young', Date.now() - 1_000);
      ports.poster.answers.set('young', ['gone', 'gone', 'delivered']);
      const report = await deliver(ports, message({ persist: false }), options());
      assert.deepEqual(ports.connections.pruned, []);
      assert.equal(ports.poster.deliveredTo('young').length, 1);
      assert.equal(report.delivered, 1);
      assert.deepEqual(ports.slept, CONNECTING_RETRY_DELAYS_MS.slice(0, 2));
    });

    it('is left to its first resume for a stored message (no re-posting)', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'young', Date.now() - 1_000);
      ports.poster.answers.set('young', ['gone']);
      const report = await deliver(ports, message(), options());
      assert.deepEqual(ports.connections.pruned, []);
      assert.equal(report.connecting, 1);
      assert.deepEqual(ports.slept, []);
    });

    it('is pruned when it answers 410 after the $connect window', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'old', Date.now() - CONNECT_WINDOW_MS - 1_000);
      ports.connections.add('alice', 'live', Date.now() - CONNECT_WINDOW_MS - 1_000);
      ports.poster.answers.set('old', ['gone']);
      const report = await deliver(ports, message(), options());
      assert.deepEqual(ports.connections.pruned, ['old']);
      assert.equal(report.gone, 1);
      assert.equal(ports.poster.deliveredTo('live').length, 1);
    });

    it('is spared by the read fan-out too, while a gone one is pruned', async () => {
      const ports = memoryPorts();
      ports.connections.add('alice', 'young', Date.now());
      ports.connections.add('alice', 'old', Date.now() - CONNECT_WINDOW_MS - 1_000);
      ports.poster.answers.set('young', ['gone']);
      ports.poster.answers.set('old', ['gone']);
      await postToUser(ports, 'alice', '{"kind":"read"}', 4);
      assert.deepEqual(ports.connections.pruned, ['old']);
    });
  });
});

describe('unread counts derived from the messages', () => {
  it('stay exact under concurrent acknowledgements from several devices', async () => {
    const ports = memoryPorts();
    const messages = Array.from({ length: 5 }, () => message());
    for (const m of messages) await deliver(ports, m, options());
    const ids = messages.map((m) => m.id);
    const results = await Promise.all([
      acknowledge(ports.inbox, 'alice', ids, Date.now()),
      acknowledge(ports.inbox, 'alice', ids.slice(0, 3), Date.now()),
      acknowledgeAll(ports.inbox, 'alice', { nowMs: Date.now() }),
    ]);
    const newlyRead = results.flatMap((result) => result.newlyRead);
    assert.deepEqual(newlyRead.sort(), [...ids].sort(), 'each message read by exactly one acknowledgement');
    assert.equal((await ports.inbox.unread('alice', Date.now())).total, 0);
  });

  it('stop counting a message once it expired', async () => {
    const ports = memoryPorts();
    await deliver(ports, message({ retentionSeconds: 60 }), options());
    assert.equal((await ports.inbox.unread('alice', Date.now())).total, 1);
    assert.equal((await ports.inbox.unread('alice', Date.now() + 61_000)).total, 0);
  });

  it('mark all as read of one source leaves the others unread', async () => {
    const ports = memoryPorts();
    await deliver(ports, message({ source: 'shop' }), options());
    await deliver(ports, message({ source: 'crm' }), options());
    const { newlyRead, unread } = await acknowledgeAll(ports.inbox, 'alice', {
      source: 'shop',
      nowMs: Date.now(),
    });
    assert.equal(newlyRead.length, 1);
    assert.deepEqual(unread.bySource, { crm: 1 });
  });
});

describe('one resume', () => {
  it('sends at most its bound of messages and names where the next round starts', async () => {
    const ports = memoryPorts();
    const stored: string[] = [];
    for (let i = 0; i < 8; i++) {
      const m = message();
      stored.push(m.id);
      await deliver(ports, m, options());
      await new Promise((resolve) => setTimeout(resolve, 2)); // seqs of one millisecond sort at random
    }
    const read = async (request: { from?: string }) => {
      const frames: { messages: { id: string }[]; more: boolean; next?: string }[] = [];
      for await (const text of backlogFrames(ports.inbox, 'alice', {
        ...request,
        limit: 100,
        nowMs: Date.now(),
        maxMessages: 3,
      }))
        frames.push(JSON.parse(text));
      return frames;
    };
    const ids: string[] = [];
    let request: { from?: string } = {};
    for (let round = 0; round < 5; round++) {
      const frames = await read(request);
      ids.push(...frames.flatMap((frame) => frame.messages.map((m) => m.id)));
      const last = frames.at(-1);
      if (last?.next === undefined) break;
      assert.equal(last.more, true);
      request = { from: last.next };
    }
    assert.deepEqual(ids, stored, 'every message once, in order, over three rounds');
  });
});
