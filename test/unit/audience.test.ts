import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  endConnection,
  type FanoutOptions,
  type FanoutPart,
  pacer,
  partsOf,
  runPart,
  subscribe,
  TooManyTopicsError,
  TopicForbiddenError,
  type TopicPorts,
  unsubscribe,
} from '../../functions/domain/audience.ts';
import {
  AUDIENCE_SHARDS,
  MAX_TOPICS_PER_CONNECTION,
  shardOf,
  topicMatches,
} from '../../functions/shared/topics.ts';
import { MemoryAudience, MemoryPartQueue, MemoryPoster } from '../support/fakes.ts';

const OPTIONS: FanoutOptions = {
  owner: 'attempt-1',
  maxConnections: 1_000,
  postsPerSecond: 1_000_000,
  postConcurrency: 4,
  staleMs: 60_000,
};

/** A broadcast audience of `count` connections, and the ports to fan out to it. */
function broadcastTo(count: number) {
  const audience = new MemoryAudience();
  for (let i = 0; i < count; i++) audience.connect(`user-${i}`, `conn-${String(i).padStart(4, '0')}`);
  const queue = new MemoryPartQueue();
  const poster = new MemoryPoster();
  const warnings: string[] = [];
  const ports = {
    audience,
    queue,
    poster,
    warn: (message: string) => warnings.push(message),
    sleep: async () => {},
  };
  return { audience, queue, poster, warnings, ports };
}

/** Runs the parts, and every part they hand on, until none is left; returns how many runs it took. */
async function runAll(
  ports: ReturnType<typeof broadcastTo>['ports'],
  first: FanoutPart[],
  options = OPTIONS,
) {
  const pending = [...first];
  let runs = 0;
  while (pending.length > 0 && runs < 10_000) {
    const part = pending.shift() as FanoutPart;
    const before = ports.queue.sent.length;
    await runPart(ports, part, options);
    pending.push(...ports.queue.sent.slice(before));
    runs++;
  }
  return runs;
}

describe('topic patterns and shards', () => {
  it('matches names exactly and prefixes ending in *', () => {
    assert.equal(topicMatches('news', ['news']), true);
    assert.equal(topicMatches('news.sport', ['news']), false);
    assert.equal(topicMatches('news.sport', ['news.*']), true);
    assert.equal(topicMatches('anything', ['*']), true);
    assert.equal(topicMatches('admin', []), false);
  });

  it('spreads connections over every shard', () => {
    const used = new Set(Array.from({ length: 2_000 }, (_, i) => shardOf(`c${i}`)));
    assert.equal(used.size, AUDIENCE_SHARDS);
  });
});

describe('runPart', () => {
  it('posts the frame to every member of its shard once, across the parts it hands on', async () => {
    const { ports, poster } = broadcastTo(300);
    const runs = await runAll(ports, partsOf('m1', { all: true }, '{"kind":"message"}'), {
      ...OPTIONS,
      maxConnections: 7,
    });
    const counts = new Map<string, number>();
    for (const post of poster.posts) counts.set(post.connectionId, (counts.get(post.connectionId) ?? 0) + 1);
    assert.equal(counts.size, 300);
    assert.ok([...counts.values()].every((count) => count === 1));
    assert.ok(runs > AUDIENCE_SHARDS, `${runs} runs: the threshold split the shards`);
  });

  it('does nothing for a part it has run already (a replayed or duplicated event)', async () => {
    const { ports, poster } = broadcastTo(40);
    const [part] = partsOf('m2', { all: true }, '{}');
    assert.ok(part);
    const first = await runPart(ports, part, OPTIONS);
    const again = await runPart(ports, part, { ...OPTIONS, owner: 'attempt-2' });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(poster.posts.length, first.delivered);
  });

  it('gives the part back when the table fails, so that the retry runs it', async () => {
    const { ports, audience, poster } = broadcastTo(40);
    const [part] = partsOf('m3', { all: true }, '{}');
    assert.ok(part);
    audience.failMembers = 1;
    await assert.rejects(runPart(ports, part, OPTIONS), /injected table failure/);
    const retry = await runPart(ports, part, { ...OPTIONS, owner: 'attempt-2' });
    assert.equal(retry.duplicate, false);
    assert.equal(retry.delivered, poster.posts.length);
  });

  it('removes members that are gone, spares young ones, and lets one failing connection harm no other', async () => {
    const { ports, audience, poster } = broadcastTo(0);
    audience.connect('a', 'old-gone', Date.now() - 120_000);
    audience.connect('b', 'young-gone', Date.now());
    audience.connect('c', 'broken');
    audience.connect('d', 'fine');
    poster.answers.set('old-gone', ['gone']);
    poster.answers.set('young-gone', ['gone']);
    poster.answers.set('broken', ['failed']);
    const reports = [];
    for (const part of partsOf('m4', { all: true }, '{}')) reports.push(await runPart(ports, part, OPTIONS));
    assert.deepEqual(poster.deliveredTo('fine'), ['{}']);
    assert.equal(
      reports.reduce((sum, r) => sum + r.gone, 0),
      1,
    );
    assert.equal(
      reports.reduce((sum, r) => sum + r.failed, 0),
      1,
    );
    const remaining = [...audience.rows.values()].flatMap((rows) => [...rows.keys()]).sort();
    assert.deepEqual(remaining, ['broken', 'fine', 'young-gone']);
  });

  it('hands the rest of its shard on when its deadline has come', async () => {
    const { ports, poster, queue } = broadcastTo(50);
    const [part] = partsOf('m5', { all: true }, '{}');
    assert.ok(part);
    const report = await runPart(ports, part, { ...OPTIONS, deadlineMs: Date.now() - 1 });
    assert.equal(report.handedOn, true);
    assert.equal(poster.posts.length, 0);
    assert.deepEqual(queue.sent, [{ ...part, after: undefined }]);
  });
});

describe('pacer', () => {
  it('spaces calls evenly at the given rate, for any number of callers', async () => {
    const slept: number[] = [];
    let now = 1_000_000;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const pace = pacer(100, async (ms) => {
        slept.push(ms);
      });
      await Promise.all(Array.from({ length: 5 }, () => pace()));
      assert.deepEqual(slept, [10, 20, 30, 40]);
      now += 1_000; // long idle: no debt is carried over
      slept.length = 0;
      await pace();
      assert.deepEqual(slept, []);
    } finally {
      Date.now = realNow;
    }
  });
});

describe('subscribe, unsubscribe and the end of a connection', () => {
  const ports = (): TopicPorts & { audience: MemoryAudience; queue: MemoryPartQueue } => ({
    audience: new MemoryAudience(),
    queue: new MemoryPartQueue(),
    rules: { open: ['lobby'], presence: ['room.*'] },
  });
  const who = (userId: string, connectionId: string, grants: string[] = []) => ({
    userId,
    connectionId,
    connectedAt: Date.now(),
    expiresAt: Math.floor(Date.now() / 1000) + 3600,
    grants,
  });
  const presenceStates = (queue: MemoryPartQueue) =>
    [...new Set(queue.sent.map((part) => part.frame))].map((frame) => {
      const { user, state } = JSON.parse(frame) as { user: string; state: string };
      return `${user}:${state}`;
    });

  it('allows what the token grants and what is open, and refuses the rest', async () => {
    const p = ports();
    await subscribe(p, who('ann', 'c1', ['news.*']), 'news.sport');
    await subscribe(p, who('ann', 'c1'), 'lobby');
    await assert.rejects(subscribe(p, who('ann', 'c1', ['news.*']), 'admin'), TopicForbiddenError);
    const rows = [...p.audience.rows.values()].flatMap((partition) => [...partition.values()]);
    assert.deepEqual(rows.map((row) => ('topic' in row ? row.topic : '')).sort(), ['lobby', 'news.sport']);
  });

  it('announces a join for the first connection of a user and a leave for the last', async () => {
    const p = ports();
    await subscribe(p, who('bob', 'phone', ['room.*']), 'room.1');
    await subscribe(p, who('bob', 'laptop', ['room.*']), 'room.1');
    await unsubscribe(p, { userId: 'bob', connectionId: 'phone' }, 'room.1');
    assert.deepEqual(presenceStates(p.queue), ['bob:join']);
    await endConnection(p, { userId: 'bob', connectionId: 'laptop' });
    assert.deepEqual(presenceStates(p.queue), ['bob:join', 'bob:leave']);
    assert.equal(p.queue.sent.length, 2 * AUDIENCE_SHARDS, 'each announcement goes to every shard');
  });

  it('announces nothing for topics that are not presence topics, or for an unsubscribe without a subscription', async () => {
    const p = ports();
    await subscribe(p, who('cid', 'c1', ['news']), 'news');
    await unsubscribe(p, { userId: 'cid', connectionId: 'c1' }, 'news');
    await unsubscribe(p, { userId: 'cid', connectionId: 'c1' }, 'room.1');
    assert.deepEqual(p.queue.sent, []);
  });

  it('refuses a connection more topics than the cap, and makes room again on unsubscribe', async () => {
    const p = ports();
    const dee = who('dee', 'c1', ['t.*']);
    for (let i = 0; i < MAX_TOPICS_PER_CONNECTION; i++) await subscribe(p, dee, `t.${i}`);
    await subscribe(p, dee, 't.0'); // the same topic again takes no second place
    await assert.rejects(
      subscribe(p, dee, 't.extra'),
      (error: unknown) => error instanceof TooManyTopicsError && error.topic === 't.extra',
    );
    await subscribe(p, who('dee', 'c2', ['t.*']), 't.extra'); // another connection has its own cap
    await unsubscribe(p, dee, 't.0');
    await subscribe(p, dee, 't.extra');
  });
});
