import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newSeq, seqFloor, seqTime } from '../../functions/domain/seq.ts';

describe('seq', () => {
  it('sorts in time order as plain strings', () => {
    const times = [0, 1, 31, 32, 1_700_000_000_000, 1_700_000_000_001, 4_102_444_800_000];
    const seqs = times.map((time) => newSeq(time));
    assert.deepEqual([...seqs].sort(), seqs);
  });

  it('encodes the time it was made at', () => {
    assert.equal(seqTime(newSeq(1_764_000_000_123)), 1_764_000_000_123);
  });

  it('refuses strings that are not seqs', () => {
    assert.equal(seqTime('hello'), undefined);
    assert.equal(seqTime('0123456789abcdefghjkmnpqrs'), undefined);
  });

  it('has a floor below every seq of the same millisecond', () => {
    for (let i = 0; i < 20; i++) assert.ok(seqFloor(1000) <= newSeq(1000));
    assert.ok(seqFloor(1001) > newSeq(1000));
  });
});
