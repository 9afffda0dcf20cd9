/**
 * Receipts and lifecycle events on the events topic, as a publisher's queue subscribed to it sees
 * them: connected, delivered (per user, and per fan-out part), read, rejected, disconnected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { PushlineEvent } from '../../functions/shared/events.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import type { TestSocket } from '../support/ws-client.ts';

describe('receipts and lifecycle events', () => {
  let target: Target;
  let sns: SNSClient;
  let sqs: SQSClient;
  let all: string;
  let readsOnly: string;
  const received = new Map<string, PushlineEvent[]>();

  async function queueOnEvents(filter?: unknown): Promise<string> {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: unique('events') }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await sns.send(
      new SubscribeCommand({
        TopicArn: target.outputs.EventsTopicArn,
        Protocol: 'sqs',
        Endpoint: Attributes?.QueueArn,
        Attributes: {
          RawMessageDelivery: 'true',
          ...(filter ? { FilterPolicy: JSON.stringify(filter) } : {}),
        },
      }),
    );
    received.set(QueueUrl as string, []);
    return QueueUrl as string;
  }

  /** Drains a queue until an event matches, for at most `waitMs`. */
  async function eventMatching(queueUrl: string, match: (event: PushlineEvent) => boolean, waitMs = 30_000) {
    const seen = received.get(queueUrl) as PushlineEvent[];
    const deadline = Date.now() + waitMs;
    for (;;) {
      const found = seen.find(match);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no such event; got ${JSON.stringify(seen.map((e) => e.event))}`);
      const answer = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const message of answer.Messages ?? []) {
        seen.push(JSON.parse(message.Body ?? '{}') as PushlineEvent);
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
    }
  }

  /** Receives everything a queue holds now (bounded: 20 rounds of 10). */
  async function drain(queueUrl: string): Promise<void> {
    const seen = received.get(queueUrl) as PushlineEvent[];
    for (let round = 0; round < 20; round++) {
      const answer = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if ((answer.Messages ?? []).length === 0) return;
      for (const message of answer.Messages ?? []) {
        seen.push(JSON.parse(message.Body ?? '{}') as PushlineEvent);
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
    }
  }

  before(async () => {
    target = await startTarget({ context: { events: 'true' } });
    const aws = {
      endpoint: target.outputs.AwsEndpointUrl,
      region: target.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    sns = new SNSClient(aws);
    sqs = new SQSClient(aws);
    all = await queueOnEvents();
    readsOnly = await queueOnEvents({ event: ['read'] });
  });
  after(async () => {
    sns.destroy();
    sqs.destroy();
    await target.stop();
  });

  it('tells a publisher who connected, what reached whom, what was read, what was refused, who left', {
    skip: WEBSOCKET_SKIP,
    timeout: 120_000,
  }, async () => {
    assert.ok(target.outputs.EventsTopicArn, 'the stack has an events topic');
    const user = unique('tia');
    const phone: TestSocket = await target.connect(user);
    const laptop: TestSocket = await target.connect(user);
    await eventMatching(all, (e) => e.event === 'connected' && e.user === user);

    const id = unique('m');
    await target.publish({ v: 1, id, to: { users: [user] }, type: 'note', data: null });
    const delivered = await eventMatching(all, (e) => e.event === 'delivered' && e.messageId === id);
    assert.deepEqual(delivered.event === 'delivered' && [delivered.type, delivered.users], [
      'note',
      [{ user, connections: 2 }],
    ]);

    await phone.next((f) => f.kind === 'message' && f.id === id);
    phone.send({ action: 'ack', ids: [id] });
    for (const queue of [all, readsOnly]) {
      const read = await eventMatching(queue, (e) => e.event === 'read' && e.user === user);
      assert.deepEqual(read.event === 'read' && read.messageIds, [id]);
    }

    await target.publish({ v: 1, id: unique('bad'), to: { users: [user] }, type: 'note' }); // no data
    const rejected = await eventMatching(all, (e) => e.event === 'rejected');
    assert.match(rejected.event === 'rejected' ? rejected.reason : '', /data/);
    assert.equal(rejected.event === 'rejected' ? rejected.code : '', 'INVALID_FIELDS');

    await phone.close();
    const gone = await eventMatching(all, (e) => e.event === 'disconnected' && e.user === user);
    assert.equal(gone.event === 'disconnected' && typeof gone.closeCode, 'number');
    await laptop.close();

    const onlyReads = received.get(readsOnly) ?? [];
    assert.ok(
      onlyReads.every((e) => e.event === 'read'),
      'the filter policy sends a queue only what it asks for',
    );
  });

  it('sums a topic message per fan-out part, never one event per connection', {
    skip: WEBSOCKET_SKIP,
    timeout: 120_000,
  }, async () => {
    const topic = unique('news');
    const sockets = await Promise.all(
      Array.from({ length: 6 }, (_, i) => target.connect(unique(`reader${i}`), { topics: [topic] })),
    );
    for (const socket of sockets) {
      socket.send({ action: 'subscribe', topic });
      await socket.next((f) => f.kind === 'subscribed');
    }
    const id = unique('t');
    await target.publish({ v: 1, id, to: { topic }, type: 'headline', data: null });
    for (const socket of sockets) await socket.next((f) => f.kind === 'message' && f.id === id);
    const parts = () =>
      (received.get(all) ?? []).filter((e) => e.event === 'delivered' && e.messageId === id);
    const total = () =>
      parts().reduce((sum, e) => sum + (e.event === 'delivered' ? (e.connections ?? 0) : 0), 0);
    // Drain until the parts' events sum to the six connections (each part publishes its own).
    await eventMatching(all, () => total() >= 6);
    await target.local?.idle();
    await drain(all); // a duplicate or extra event would arrive now
    assert.equal(total(), 6, 'every connection counted once');
    const events = parts();
    assert.ok(events.length <= 6, `at most one event per part that posted: ${events.length}`);
    assert.ok(events.every((e) => e.event === 'delivered' && e.topic === topic));
    await Promise.all(sockets.map((socket) => socket.close()));
  });
});
