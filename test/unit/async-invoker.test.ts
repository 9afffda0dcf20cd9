import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AsyncInvoker } from '../../emulator/aws/async-invoker.ts';
import { FunctionError } from '../../emulator/topology.ts';

interface Sent {
  readonly queue: string;
  readonly body: string;
}

/** An invoker whose function always fails, with a clock the test moves by hand. */
function failingInvoker(clock: { now: number }) {
  const sent: Sent[] = [];
  let attempts = 0;
  const invoker = new AsyncInvoker({
    invoke: async (fn) => {
      attempts += 1;
      // Each attempt "takes" 50 seconds of the event's life.
      clock.now += 50_000;
      throw new FunctionError(fn, 'Error', 'still failing');
    },
    retryDelaysMs: [1, 1],
    deadLetter: (queue, body) => sent.push({ queue, body }),
    log: () => {},
    now: () => clock.now,
  });
  return { invoker, sent, attempts: () => attempts };
}

describe('AsyncInvoker (Lambda asynchronous invocation)', () => {
  it('gives up on an event older than its maximum event age, with condition EventAgeExceeded', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const { invoker, sent, attempts } = failingInvoker(clock);

    invoker.submit({
      functionName: 'f',
      event: { n: 1 },
      source: 'test',
      onFailureQueue: 'records',
      maximumEventAgeSeconds: 60,
    });
    await invoker.idle(5_000);

    // 50 s after the first attempt the event is young enough for one retry; after 100 s it is not.
    assert.equal(attempts(), 2);
    assert.equal(sent.length, 1);
    const record = JSON.parse(sent[0]?.body ?? '{}') as {
      requestContext: { condition: string; approximateInvokeCount: number };
      requestPayload: unknown;
    };
    assert.equal(record.requestContext.condition, 'EventAgeExceeded');
    assert.equal(record.requestContext.approximateInvokeCount, 2);
    assert.deepEqual(record.requestPayload, { n: 1 });
    assert.equal(invoker.stats().deadLettered, 1);
  });

  it('sends to both the dead-letter queue (the event) and the on-failure destination (the record)', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) };
    const { invoker, sent, attempts } = failingInvoker(clock);

    invoker.submit({
      functionName: 'f',
      event: { n: 2 },
      source: 'test',
      deadLetterQueue: 'dlq',
      onFailureQueue: 'records',
    });
    await invoker.idle(5_000);

    assert.equal(attempts(), 3, 'two retries by default, the event well within 6 hours');
    assert.deepEqual(
      sent.map((s) => s.queue),
      ['dlq', 'records'],
    );
    assert.deepEqual(JSON.parse(sent[0]?.body ?? '{}'), { n: 2 });
    assert.equal(
      (JSON.parse(sent[1]?.body ?? '{}') as { requestContext: { condition: string } }).requestContext
        .condition,
      'RetriesExhausted',
    );
  });
});
