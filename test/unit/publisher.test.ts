import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SNSClient } from '@aws-sdk/client-sns';
import { parseEnvelope, parsePublished } from '../../functions/shared/envelope.ts';
import {
  estimateFrameBytes,
  frameSizeProblem,
  MAX_FRAME_BYTES,
} from '../../functions/shared/message-frame.ts';
import { InvalidMessageError, JsonText, Publisher, PublishFailedError } from '../../publisher/index.ts';

// Every case here is refused before any request is made, so the topic never has to exist.
const publisher = new Publisher({ topicArn: 'arn:aws:sns:us-east-1:000000000000:nowhere' });

describe('Publisher input checks', () => {
  it('refuses a message that would not fit API Gateway once posted', async () => {
    const data = 'x'.repeat(130 * 1024);
    await assert.rejects(
      publisher.publish({ to: { users: ['alice'] }, type: 't', data }),
      (error: unknown) => error instanceof InvalidMessageError && /at most 131072/.test(error.message),
    );
  });

  it('refuses an invalid message with the field named', async () => {
    await assert.rejects(
      publisher.publish({ to: { users: [] }, type: 't', data: null }),
      (error: unknown) => error instanceof InvalidMessageError && /to/.test(error.message),
    );
  });

  it('refuses a topic that is not an ARN', () => {
    assert.throws(() => new Publisher({ topicArn: 'pushline' }), InvalidMessageError);
  });
});

interface BatchCall {
  readonly entries: { Id?: string; Message?: string }[];
}

/**
 * An SNS client that answers PublishBatch from a script. SNS refusing single entries of a batch
 * (throttling, internal errors) cannot be produced on the local endpoint, so this stands in for it.
 */
function scriptedClient(
  refuse: (entryId: string, call: number) => { code: string; senderFault: boolean } | undefined,
) {
  const calls: BatchCall[] = [];
  const client = {
    async send(command: { input: { PublishBatchRequestEntries?: { Id?: string; Message?: string }[] } }) {
      const entries = command.input.PublishBatchRequestEntries ?? [];
      calls.push({ entries });
      const Successful: { Id: string; MessageId: string }[] = [];
      const Failed: { Id: string; Code: string; SenderFault: boolean; Message: string }[] = [];
      for (const entry of entries) {
        const id = entry.Id ?? '';
        const refusal = refuse(id, calls.length);
        if (refusal)
          Failed.push({ Id: id, Code: refusal.code, SenderFault: refusal.senderFault, Message: 'scripted' });
        else Successful.push({ Id: id, MessageId: `sns-${calls.length}-${id}` });
      }
      return { Successful, Failed };
    },
  };
  return { calls, client: client as unknown as SNSClient };
}

const topicArn = 'arn:aws:sns:us-east-1:000000000000:pushline';

describe('Publisher batching and retries', () => {
  it('retries entries SNS refused for its own reasons, with the same message id', async () => {
    const { calls, client } = scriptedClient((_id, call) =>
      call === 1 ? { code: 'Throttling', senderFault: false } : undefined,
    );
    const result = await new Publisher({ topicArn, client }).publish({
      id: 'order-1',
      to: { users: ['alice'] },
      type: 't',
      data: null,
    });
    assert.equal(calls.length, 2);
    assert.equal(JSON.parse(calls[1]?.entries[0]?.Message ?? '{}').id, 'order-1');
    assert.deepEqual(result, { id: 'order-1', snsMessageIds: ['sns-2-m0c0'] });
  });

  it('sends JsonText data byte for byte, so an 18-digit integer keeps its digits', async () => {
    const { calls, client } = scriptedClient(() => undefined);
    await new Publisher({ topicArn, client }).publish({
      to: { users: ['alice'] },
      type: 't',
      data: new JsonText('{"orderId":654366374251302912}'),
    });
    const body = calls[0]?.entries[0]?.Message ?? '';
    assert.ok(body.endsWith(',"data":{"orderId":654366374251302912}}'), body);
    assert.equal(
      parseEnvelope(body).dataJson,
      '{"orderId":654366374251302912}',
      'the deliver side reads it back',
    );
    assert.throws(() => new JsonText('{not json'), InvalidMessageError);
  });

  it('gives up at once on a sender fault, and after the last attempt otherwise, saying which', async () => {
    const sender = scriptedClient(() => ({ code: 'InvalidParameter', senderFault: true }));
    await assert.rejects(
      new Publisher({ topicArn, client: sender.client }).publish({
        id: 'a',
        to: { users: ['u'] },
        type: 't',
        data: 1,
      }),
      (error: unknown) =>
        error instanceof PublishFailedError &&
        error.failed[0]?.code === 'InvalidParameter' &&
        error.failed[0]?.id === 'a',
    );
    assert.equal(sender.calls.length, 1);

    const busy = scriptedClient(() => ({ code: 'InternalError', senderFault: false }));
    await assert.rejects(
      new Publisher({ topicArn, client: busy.client, attempts: 2 }).publish({
        to: { users: ['u'] },
        type: 't',
        data: 1,
      }),
      PublishFailedError,
    );
    assert.equal(busy.calls.length, 2);
  });

  it('splits more than 100 users into envelopes that keep one id, ten entries a batch', async () => {
    const { calls, client } = scriptedClient(() => undefined);
    const users = Array.from({ length: 1050 }, (_, i) => `user-${i}`);
    const result = await new Publisher({ topicArn, client }).publish({
      to: { users },
      type: 't',
      data: null,
    });
    const envelopes = calls.flatMap((call) => call.entries.map((entry) => JSON.parse(entry.Message ?? '{}')));
    assert.equal(envelopes.length, 11);
    assert.deepEqual(
      calls.map((call) => call.entries.length),
      [10, 1],
    );
    assert.ok(envelopes.every((envelope) => envelope.id === result.id));
    assert.deepEqual(
      envelopes.flatMap((envelope) => envelope.to.users),
      users,
    );
    assert.equal(result.snsMessageIds.length, 11);
  });

  it('starts a new batch before a request would pass 256 KB', async () => {
    const { calls, client } = scriptedClient(() => undefined);
    const data = 'x'.repeat(100 * 1024);
    await new Publisher({ topicArn, client }).publishAll(
      Array.from({ length: 3 }, () => ({ to: { users: ['alice'] }, type: 't', data })),
    );
    assert.deepEqual(
      calls.map((call) => call.entries.length),
      [2, 1],
    );
  });
});

describe('Publisher.disconnect', () => {
  it('sends control envelopes the deliver function accepts, 100 users each, one order id', async () => {
    const { calls, client } = scriptedClient(() => undefined);
    const users = Array.from({ length: 150 }, (_, i) => `user-${i}`);
    const result = await new Publisher({ topicArn, client }).disconnect([...users, 'user-0'], {
      reason: 'banned',
    });
    const bodies = calls.flatMap((call) => call.entries.map((entry) => entry.Message ?? ''));
    const orders = bodies.map((body) => parsePublished(body));
    assert.ok(orders.every((order) => order.kind === 'control'));
    const controls = orders.flatMap((order) => (order.kind === 'control' ? [order.control] : []));
    assert.deepEqual(
      controls.map((control) => control.to.users.length),
      [100, 50],
      'split, the repeated user once',
    );
    assert.ok(
      controls.every(
        (control) =>
          control.id === result.id && control.control === 'disconnect' && control.reason === 'banned',
      ),
    );
    assert.equal(result.snsMessageIds.length, 2);
  });

  it('refuses an empty list and a bad reason before sending anything', async () => {
    const { calls, client } = scriptedClient(() => undefined);
    const publisher = new Publisher({ topicArn, client });
    await assert.rejects(publisher.disconnect([]), InvalidMessageError);
    await assert.rejects(
      publisher.disconnect(['alice'], { reason: 'x'.repeat(300) }),
      (error: unknown) => error instanceof InvalidMessageError && /reason/.test(error.message),
    );
    assert.equal(calls.length, 0);
  });
});

describe('Publisher size rule for topics and broadcasts', () => {
  it('counts the topic field the deliver function adds, so a topic message it passes also fits once posted', async () => {
    const { client } = scriptedClient(() => undefined);
    const topic = 't'.repeat(128);
    // Data that fits a user message by a few bytes, and not once the 128-character topic is added.
    const base = estimateFrameBytes({ id: 'fixed-id', type: 't', dataJson: '""' });
    const data = 'x'.repeat(MAX_FRAME_BYTES - base - 10);
    const publisher = new Publisher({ topicArn, client });
    await publisher.publish({ id: 'fixed-id', to: { users: ['alice'] }, type: 't', data });
    await assert.rejects(
      publisher.publish({ id: 'fixed-id', to: { topic }, type: 't', data }),
      (error: unknown) => error instanceof InvalidMessageError && /at most 131072/.test(error.message),
    );
    assert.equal(
      frameSizeProblem({ id: 'fixed-id', type: 't', dataJson: JSON.stringify(data), topic }) !== undefined,
      true,
    );
  });
});
