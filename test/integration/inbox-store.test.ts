import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createTables, startDynamo } from '../../emulator/aws/dynamodb.ts';
import { LOCAL_REGION } from '../../emulator/topology.ts';
import type { InboxStore, IncomingMessage } from '../../functions/domain/inbox.ts';
import { TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';

// The adapters build their DynamoDB client from the standard SDK variables at import time, as on
// Lambda, so the variables are set before the modules are loaded.
const dynamo = await startDynamo({ engine: 'dynalite' });
process.env.AWS_ENDPOINT_URL = dynamo.endpoint;
process.env.AWS_REGION = LOCAL_REGION;
process.env.AWS_ACCESS_KEY_ID = 'local';
process.env.AWS_SECRET_ACCESS_KEY = 'local';
const { createInboxStore } = await import('../../functions/adapters/inbox-store.ts');
const { backlogFrames, DeliveryInProgressError, markPushed, releaseLease, storeOnce } = await import(
  '../../functions/domain/inbox.ts'
);

const table = {
  name: 'inbox-store-test',
  partitionKey: TABLE_SCHEMA.partitionKey,
  sortKey: TABLE_SCHEMA.sortKey,
  ttlAttribute: TABLE_SCHEMA.ttlAttribute,
};
const options = { persist: true, retentionSeconds: 3600, nowMs: Date.now() };
let counter = 0;
const message = (data: unknown = null): IncomingMessage => ({
  id: `m${++counter}`,
  type: 'note',
  source: 'crm',
  data,
  ts: Date.now(),
});

async function collect(
  store: InboxStore,
  userId: string,
  request: { after?: string; maxFrameBytes?: number } = {},
) {
  const pages = [];
  for await (const page of backlogFrames(store, userId, { ...request, nowMs: Date.now() })) pages.push(page);
  return pages;
}

describe('storing a message once per user, whatever is replayed', () => {
  let store: InboxStore;
  before(async () => {
    await createTables(dynamo.endpoint, [table], LOCAL_REGION);
    store = createInboxStore(table.name);
  });
  after(async () => {
    await dynamo.close();
  });

  it('pushes nothing again once a message was pushed', async () => {
    const incoming = message();
    assert.equal((await storeOnce(store, 'u1', incoming, options)).push, true);
    await markPushed(store, 'u1', incoming.id);
    assert.equal((await storeOnce(store, 'u1', incoming, options)).push, false);
    assert.equal((await store.unread('u1')).total, 1);
  });

  it('pushes again with the same seq when an attempt stored, did not push, and its lease ran out', async () => {
    const incoming = message();
    const first = await storeOnce(store, 'u2', incoming, { ...options, leaseMs: 0 });
    const replay = await storeOnce(store, 'u2', incoming, options);
    assert.equal(replay.push, true);
    assert.equal(replay.seq, first.seq);
    assert.equal((await store.unread('u2')).total, 1, 'counted once');
  });

  it('moves the message to a fresh seq when an attempt stopped right after claiming', async () => {
    const incoming = message('stopped early');
    const oldSeq = '01M0000000AAAAAAAAAAAAAAAA';
    await store.claim('u3', incoming.id, oldSeq, Math.floor(Date.now() / 1000) + 3600, 0, 'claimed');
    await store.putMessage('u3', {
      ...incoming,
      seq: oldSeq,
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    });
    const replay = await storeOnce(store, 'u3', incoming, options);
    assert.equal(replay.push, true);
    assert.notEqual(replay.seq, oldSeq);
    const pages = await collect(store, 'u3');
    assert.deepEqual(
      pages.flatMap((page) => page.messages.map((m) => [m.id, m.seq])),
      [[incoming.id, replay.seq]],
      'exactly one stored copy, under the new seq',
    );
    assert.equal((await store.unread('u3')).total, 1);
  });

  it('makes a concurrent duplicate wait for the first attempt and push nothing', async () => {
    const incoming = message();
    const first = await storeOnce(store, 'u5', incoming, options);
    assert.equal(first.push, true);
    const duplicate = storeOnce(store, 'u5', incoming, { ...options, waitMs: 2000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await markPushed(store, 'u5', incoming.id);
    assert.deepEqual(await duplicate, { push: false });
  });

  it('gives a duplicate up for a later retry when the first attempt holds on too long', async () => {
    const incoming = message();
    await storeOnce(store, 'u6', incoming, options);
    await assert.rejects(
      storeOnce(store, 'u6', incoming, { ...options, waitMs: 300 }),
      (error: unknown) => error instanceof DeliveryInProgressError,
    );
  });

  it('lets a retry proceed at once after the failed attempt released its lease', async () => {
    const incoming = message();
    const first = await storeOnce(store, 'u7', incoming, options);
    await releaseLease(store, 'u7', incoming.id);
    const retry = await storeOnce(store, 'u7', incoming, { ...options, waitMs: 0 });
    assert.deepEqual(retry, { push: true, seq: first.seq });
  });

  it('splits the backlog into pages that each fit the frame limit, in order', async () => {
    const big = 'x'.repeat(30_000);
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      const incoming = message({ i, big });
      ids.push(incoming.id);
      await storeOnce(store, 'u4', incoming, { ...options, nowMs: Date.now() });
    }
    const pages = await collect(store, 'u4', { maxFrameBytes: 128 * 1024 });
    assert.ok(pages.length >= 3, `expected several pages, got ${pages.length}`);
    for (const page of pages) assert.ok(Buffer.byteLength(JSON.stringify(page)) <= 128 * 1024);
    assert.deepEqual(
      pages.map((page) => page.more),
      [...pages.slice(1).map(() => true), false],
    );
    assert.deepEqual(
      pages.flatMap((page) => page.messages.map((m) => m.id)),
      ids,
    );
  });
});
