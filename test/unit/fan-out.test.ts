import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fanOut, type PostOutcome } from '../../functions/domain/fan-out.ts';

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
