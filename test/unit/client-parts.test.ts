import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, PushlineClient, PushlineError, RecentIds, TypedEmitter } from '../../client/index.ts';

describe('backoffDelay', () => {
  it('draws each delay between zero and the exponential ceiling capped at maxDelayMs', () => {
    const options = { initialDelayMs: 100, maxDelayMs: 5000, factor: 2 };
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(5000, 100 * 2 ** attempt);
      assert.equal(
        backoffDelay(attempt, options, () => 0),
        0,
      );
      assert.equal(
        backoffDelay(attempt, options, () => 0.999999),
        Math.floor(0.999999 * ceiling),
      );
      for (let draw = 0; draw < 50; draw++) {
        const delay = backoffDelay(attempt, options);
        assert.ok(delay >= 0 && delay < ceiling, `attempt ${attempt}: ${delay} outside [0, ${ceiling})`);
      }
    }
  });

  it('spreads delays over the whole range (full jitter), not around the ceiling', () => {
    const delays = Array.from({ length: 400 }, () =>
      backoffDelay(3, { initialDelayMs: 1000, maxDelayMs: 60_000 }),
    );
    assert.ok(Math.min(...delays) < 2000, 'some short delays');
    assert.ok(Math.max(...delays) > 6000, 'some long delays');
  });
});

describe('RecentIds', () => {
  it('reports repeats and forgets the least recently seen id beyond its capacity', () => {
    const ids = new RecentIds(3);
    assert.equal(ids.add('a'), true);
    assert.equal(ids.add('b'), true);
    assert.equal(ids.add('a'), false); // refreshes a
    assert.equal(ids.add('c'), true);
    assert.equal(ids.add('d'), true); // evicts b, the least recent
    assert.equal(ids.size, 3);
    assert.equal(ids.add('a'), false);
    assert.equal(ids.add('b'), true);
  });
});

describe('TypedEmitter', () => {
  class Events extends TypedEmitter<{ tick: number }> {
    fire(value: number) {
      this.emit('tick', value);
    }
  }

  it('calls listeners until they are removed, and once-listeners a single time', () => {
    const emitter = new Events();
    const got: string[] = [];
    const off = emitter.on('tick', (n) => got.push(`on${n}`));
    emitter.once('tick', (n) => got.push(`once${n}`));
    emitter.fire(1);
    off();
    emitter.fire(2);
    assert.deepEqual(got, ['on1', 'once1']);
  });
});

describe('PushlineClient construction', () => {
  it('asks for a WebSocket class when the platform has none', () => {
    const global = globalThis as { WebSocket?: unknown };
    const saved = global.WebSocket;
    delete global.WebSocket;
    try {
      assert.throws(
        () => new PushlineClient({ url: 'ws://127.0.0.1:1/x', token: () => 't' }),
        (error: unknown) => error instanceof PushlineError && error.code === 'NO_WEBSOCKET',
      );
    } finally {
      if (saved !== undefined) global.WebSocket = saved;
    }
  });
});
