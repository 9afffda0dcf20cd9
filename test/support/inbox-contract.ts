/**
 * What every InboxStore must do, as tests: run against the in-memory fake (unit tier) and against
 * the DynamoDB adapter on each local engine (integration tier), so the fake cannot drift from the
 * real thing.
 */

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { backlogFrames, type InboxStore, type MessageRow } from '../../functions/domain/inbox.ts';
import { newSeq } from '../../functions/domain/seq.ts';

let counter = 0;
let lastSeqTime = 0;

/**
 * A row for a stored message, `seconds` of retention from now. Seqs of one millisecond sort at
 * random, so each row takes the next millisecond.
 */
export function storedRow(overrides: Partial<MessageRow> = {}, seconds = 3600): MessageRow {
  counter++;
  lastSeqTime = Math.max(Date.now(), lastSeqTime + 1);
  return {
    id: `c${Date.now()}-${counter}`,
    seq: newSeq(lastSeqTime),
    type: 'note',
    source: 'crm',
    dataJson: '{"n":1}',
    ts: Date.now(),
    expiresAt: Math.floor(Date.now() / 1000) + seconds,
    owner: 'attempt-1',
    ...overrides,
  };
}

async function pages(
  store: InboxStore,
  userId: string,
  request: { after?: string; maxFrameBytes?: number } = {},
) {
  const frames = [];
  for await (const text of backlogFrames(store, userId, { ...request, nowMs: Date.now() })) {
    frames.push(
      JSON.parse(text) as {
        messages: { id: string; seq: string; data: unknown }[];
        more: boolean;
        gap: boolean;
      },
    );
  }
  return frames;
}

/** Defines the contract's tests (inside the caller's describe); `store()` gives the store under test. */
export function inboxContract(store: () => InboxStore): void {
  it('claims a message for exactly one attempt; a later attempt finds it handled', async () => {
    const row = storedRow();
    assert.deepEqual(await store().claim('k1', row), { state: 'new' });
    assert.deepEqual(await store().claim('k1', { ...row, owner: 'attempt-2' }), { state: 'handled' });
  });

  it('recognises an attempt claiming its own row again (an SDK retry of a put whose answer was lost)', async () => {
    const row = storedRow();
    await store().claim('k2', row);
    assert.deepEqual(await store().claim('k2', row), { state: 'new' });
  });

  it('hands a released row to exactly one later attempt, with the seq it was stored under', async () => {
    const row = storedRow();
    await store().claim('k3', row);
    await store().release('k3', row.id, 'someone-else'); // not the owner: no effect
    assert.deepEqual(await store().claim('k3', { ...row, owner: 'attempt-2' }), { state: 'handled' });
    await store().release('k3', row.id, row.owner);
    assert.deepEqual(await store().claim('k3', { ...row, seq: newSeq(Date.now()), owner: 'attempt-2' }), {
      state: 'released',
      seq: row.seq,
    });
    const takes = await Promise.all([
      store().takeOver('k3', row.id, 'attempt-2'),
      store().takeOver('k3', row.id, 'attempt-3'),
    ]);
    assert.deepEqual(takes.sort(), [false, true]);
  });

  it('derives unread counts per source from the messages, each read by exactly one acknowledgement', async () => {
    const rows = [
      storedRow({ source: 'shop' }),
      storedRow({ source: 'shop' }),
      storedRow({ source: undefined }),
    ];
    for (const row of rows) await store().claim('k4', row);
    await store().claim('k4', storedRow({ seq: undefined })); // a push-only marker: never counted
    const before = await store().unread('k4', Date.now());
    assert.equal(before.total, 3);
    assert.deepEqual(before.bySource, { shop: 2, default: 1 });
    const first = rows[0] as MessageRow;
    const marks = await Promise.all([
      store().markRead('k4', first.id, Date.now()),
      store().markRead('k4', first.id, Date.now()),
    ]);
    assert.deepEqual(marks.sort(), [false, true]);
    assert.deepEqual((await store().unread('k4', Date.now())).bySource, { shop: 1, default: 1 });
  });

  it("keeps who sent a message, and stores a sender's own copy as read: never counted unread", async () => {
    const nowSeconds = () => Math.floor(Date.now() / 1000);
    const own = storedRow({ from: 'ann', readAt: 1_700_000_000_000 });
    const received = storedRow({ from: 'bo' });
    for (const row of [own, received]) await store().claim('k4f', row);
    assert.equal((await store().unread('k4f', Date.now())).total, 1);
    assert.deepEqual(
      (await store().unreadPage('k4f', { limit: 10, nowSeconds: nowSeconds() })).messages.map((m) => m.id),
      [received.id],
    );
    const { messages } = await store().page('k4f', { limit: 10, nowSeconds: nowSeconds() });
    const byId = new Map(messages.map((m) => [m.id, m]));
    assert.equal(byId.get(own.id)?.from, 'ann');
    assert.equal(byId.get(own.id)?.readAt, 1_700_000_000_000);
    assert.equal(byId.get(received.id)?.from, 'bo');
    assert.equal(byId.get(received.id)?.readAt, undefined);
    assert.equal(await store().markRead('k4f', own.id, Date.now()), false, 'read already');
  });

  it('stops counting, listing and resuming messages whose retention ran out, before TTL deletes them', async () => {
    const row = storedRow({}, 1);
    await store().claim('k5', row);
    const later = Date.now() + 5_000;
    assert.equal((await store().unread('k5', later)).total, 0);
    assert.equal(
      (await store().unreadPage('k5', { limit: 10, nowSeconds: Math.floor(later / 1000) })).messages.length,
      0,
    );
    assert.equal(await store().exists('k5', row.seq as string, Math.floor(later / 1000)), false);
  });

  it('lists unread messages oldest first with their source, for mark-all-as-read', async () => {
    const rows = [storedRow(), storedRow({ source: 'shop' })];
    for (const row of rows) await store().claim('k6', row);
    await store().markRead('k6', (rows[0] as MessageRow).id, Date.now());
    const page = await store().unreadPage('k6', { limit: 10, nowSeconds: Math.floor(Date.now() / 1000) });
    assert.deepEqual(page.messages, [{ id: (rows[1] as MessageRow).id, source: 'shop' }]);
  });

  it('keeps data byte for byte and serves the backlog in seq order, in pages that fit 128 KB', async () => {
    const big = 'x'.repeat(30_000);
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      const row = storedRow({ dataJson: `{"i":${i},"id":654366374251302912,"big":"${big}"}` });
      ids.push(row.id);
      await store().claim('k7', row);
    }
    const frames = await pages(store(), 'k7');
    assert.ok(frames.length >= 3, `expected several pages, got ${frames.length}`);
    assert.deepEqual(
      frames.map((frame) => frame.more),
      [...frames.slice(1).map(() => true), false],
    );
    assert.deepEqual(
      frames.flatMap((frame) => frame.messages.map((m) => m.id)),
      ids.slice(-50),
    );
    let text = '';
    for await (const frame of backlogFrames(store(), 'k7', { nowMs: Date.now() })) {
      assert.ok(Buffer.byteLength(frame) <= 128 * 1024);
      text += frame;
    }
    assert.ok(text.includes('"id":654366374251302912'), 'the 18-digit id keeps its digits');
  });

  it('resumes after a cursor, and says gap when the cursor is no longer kept', async () => {
    const rows = [storedRow(), storedRow(), storedRow()];
    for (const row of rows) await store().claim('k8', row);
    const after = await pages(store(), 'k8', { after: (rows[0] as MessageRow).seq });
    assert.equal(after[0]?.gap, false);
    assert.ok(after.flatMap((f) => f.messages.map((m) => m.id)).includes((rows[2] as MessageRow).id));
    const gone = await pages(store(), 'k8', { after: newSeq(Date.now() - 10_000) });
    assert.equal(gone[0]?.gap, true);
  });

  it('pages history newest first from a cursor', async () => {
    const rows = [storedRow(), storedRow(), storedRow()];
    for (const row of rows) await store().claim('k9', row);
    const newest = await store().page('k9', { limit: 2, nowSeconds: Math.floor(Date.now() / 1000) });
    assert.deepEqual(
      newest.messages.map((m) => m.id),
      [(rows[2] as MessageRow).id, (rows[1] as MessageRow).id],
    );
    const older = await store().page('k9', {
      beforeSeq: (rows[1] as MessageRow).seq,
      limit: 10,
      nowSeconds: Math.floor(Date.now() / 1000),
    });
    assert.deepEqual(
      older.messages.map((m) => m.id),
      [(rows[1] as MessageRow).id, (rows[0] as MessageRow).id],
    );
  });
}
