import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLimiter, fanOut, type PostOutcome } from '../../functions/domain/fan-out.ts';

describe('fanOut', () => {
  it('never has more posts in flight than the concurrency limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const targets = Array.from({ length: 50 }, (_, i) => i);
    const summary = await fanOut(
      targets,
      async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        inFlight--;
        return 'delivered' as PostOutcome;
      },
      7,
    );
    assert.equal(peak, 7);
    assert.equal(summary.delivered, 50);
  });

  it('keeps going when one post throws, and reports each outcome with its target', async () => {
    const summary = await fanOut(
      ['a', 'gone', 'boom', 'b'],
      async (target) => {
        if (target === 'boom') throw new Error('network down');
        return target === 'gone' ? 'gone' : 'delivered';
      },
      2,
    );
    assert.deepEqual(
      summary.outcomes.map((o) => [o.target, o.outcome]),
      [
        ['a', 'delivered'],
        ['gone', 'gone'],
        ['boom', 'failed'],
        ['b', 'delivered'],
      ],
    );
    assert.equal(summary.delivered, 2);
    assert.equal(summary.gone, 1);
    assert.equal(summary.failed, 1);
    assert.match(String(summary.outcomes[2]?.error), /network down/);
  });

  it('does nothing for no targets', async () => {
    const summary = await fanOut([], async () => 'delivered', 4);
    assert.equal(summary.outcomes.length, 0);
  });
});

describe('createLimiter', () => {
  it('never runs more tasks at once than its limit, however late they are started, and runs them first come first', async () => {
    const limit = createLimiter(3);
    let inFlight = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (n: number) => async () => {
      started.push(n);
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1 + (n % 3)));
      inFlight--;
      if (n === 4) throw new Error('task 4 fails');
      return n;
    };
    const early = Array.from({ length: 5 }, (_, n) => limit(task(n)).catch(() => -1));
    await new Promise((resolve) => setTimeout(resolve, 1));
    const late = Array.from({ length: 5 }, (_, n) => limit(task(n + 5)).catch(() => -1));
    const results = await Promise.all([...early, ...late]);
    assert.equal(peak, 3);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(results, [0, 1, 2, 3, -1, 5, 6, 7, 8, 9], 'a failing task frees its slot too');
  });
});
