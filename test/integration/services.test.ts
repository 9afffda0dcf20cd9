/**
 * A client writing to a backend service: the message on the inbound topic with the verified sender,
 * a service's SQS queue subscribed with a filter policy, and the service's answer back to the user.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SNSClient, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { ServiceMessage } from '../../functions/shared/protocol.ts';
import { Publisher } from '../../publisher/index.ts';
import { startTarget, type Target, unique, WEBSOCKET_SKIP } from '../support/target.ts';
import type { Frame, TestSocket } from '../support/ws-client.ts';

async function request(socket: TestSocket, frame: Record<string, unknown>, kind: string): Promise<Frame> {
  const from = socket.frames.length;
  socket.send(frame);
  return socket.next((f) => f.kind === kind || f.kind === 'error', 30_000, from);
}

describe('client send to a backend service', () => {
  let target: Target;
  let sns: SNSClient;
  let sqs: SQSClient;
  const sockets: TestSocket[] = [];

  /** A queue subscribed to the inbound topic, as a service would subscribe one. */
  async function serviceQueue(name: string, options: { filter?: unknown; raw: boolean }) {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: unique(name) }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    const { SubscriptionArn } = await sns.send(
      new SubscribeCommand({
        TopicArn: target.outputs.InboundTopicArn,
        Protocol: 'sqs',
        Endpoint: Attributes?.QueueArn,
        ReturnSubscriptionArn: true,
        Attributes: {
          RawMessageDelivery: String(options.raw),
          ...(options.filter === undefined ? {} : { FilterPolicy: JSON.stringify(options.filter) }),
        },
      }),
    );
    return { queueUrl: QueueUrl as string, subscriptionArn: SubscriptionArn as string };
  }

  /** Receives from a queue until `count` messages came or the bounded wait ends. */
  async function receive(queueUrl: string, count: number, waitMs = 20_000): Promise<Message[]> {
    const messages: Message[] = [];
    const deadline = Date.now() + waitMs;
    while (messages.length < count && Date.now() < deadline) {
      const answer = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
        }),
      );
      for (const message of answer.Messages ?? []) {
        messages.push(message);
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
    }
    return messages;
  }

  before(async () => {
    target = await startTarget({ context: { services: 'robot,billing' } });
    const aws = {
      endpoint: target.outputs.AwsEndpointUrl,
      region: target.outputs.Region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    sns = new SNSClient(aws);
    sqs = new SQSClient(aws);
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    sns.destroy();
    sqs.destroy();
    await target.stop();
  });

  it("hands a user's question to the service it names, with the verified sender, and brings the answer back", {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    assert.ok(target.outputs.InboundTopicArn, 'the stack has an inbound topic');
    const robot = await serviceQueue('robot', { filter: { service: ['robot'] }, raw: true });
    const billing = await serviceQueue('billing', { filter: { service: ['billing'] }, raw: true });
    const user = unique('asker');
    const socket = await target.connect(user);
    sockets.push(socket);

    const sent = await request(
      socket,
      {
        action: 'send',
        id: 'q1',
        to: { service: 'robot' },
        type: 'question',
        data: { text: 'opening hours?' },
      },
      'sent',
    );
    assert.equal(sent.kind, 'sent', JSON.stringify(sent));
    const [question] = await receive(robot.queueUrl, 1);
    const body = JSON.parse(question?.Body ?? '{}') as ServiceMessage;
    assert.deepEqual(
      {
        kind: body.kind,
        id: body.id,
        service: body.service,
        from: body.from,
        type: body.type,
        data: body.data,
      },
      {
        kind: 'service-message',
        id: sent.messageId,
        service: 'robot',
        from: user,
        type: 'question',
        data: { text: 'opening hours?' },
      },
    );
    assert.equal(question?.MessageAttributes?.from?.StringValue, user, 'the sender as an attribute too');
    assert.deepEqual(
      await receive(billing.queueUrl, 1, 2_000),
      [],
      'the filter policy keeps it from billing',
    );

    // The service answers the way services publish: to the user, naming itself.
    const publisher = new Publisher({ topicArn: target.outputs.TopicArn, client: sns });
    const answer = await publisher.publish({
      to: { users: [body.from] },
      from: 'robot',
      type: 'answer',
      data: { text: '9 to 5', inReplyTo: body.id },
    });
    const atUser = await socket.next((f) => f.kind === 'message' && f.id === answer.id);
    assert.deepEqual([atUser.from, atUser.type], ['robot', 'answer']);
  });

  it('refuses a service the deployment does not name', { skip: WEBSOCKET_SKIP }, async () => {
    const socket = await target.connect(unique('curious'));
    sockets.push(socket);
    const refusal = await request(
      socket,
      { action: 'send', id: 'x', to: { service: 'payroll' }, type: 'question', data: null },
      'sent',
    );
    assert.deepEqual({ code: refusal.code, id: refusal.id }, { code: 'FORBIDDEN', id: 'x' });
  });

  it('delivers SNS notification JSON to a queue without raw delivery, and stops after Unsubscribe', {
    skip: WEBSOCKET_SKIP,
  }, async () => {
    const audit = await serviceQueue('audit', { raw: false });
    const socket = await target.connect(unique('audited'));
    sockets.push(socket);
    await request(
      socket,
      { action: 'send', id: 'a1', to: { service: 'billing' }, type: 'invoice.question', data: 1 },
      'sent',
    );
    const [notification] = await receive(audit.queueUrl, 1);
    const envelope = JSON.parse(notification?.Body ?? '{}') as {
      Type: string;
      TopicArn: string;
      Message: string;
      MessageAttributes: Record<string, { Type: string; Value: string }>;
    };
    assert.equal(envelope.Type, 'Notification');
    assert.equal(envelope.TopicArn, target.outputs.InboundTopicArn);
    assert.equal((JSON.parse(envelope.Message) as ServiceMessage).service, 'billing');
    assert.deepEqual(envelope.MessageAttributes.service, { Type: 'String', Value: 'billing' });

    await sns.send(new UnsubscribeCommand({ SubscriptionArn: audit.subscriptionArn }));
    await request(
      socket,
      { action: 'send', id: 'a2', to: { service: 'billing' }, type: 'invoice.question', data: 2 },
      'sent',
    );
    await target.local?.idle();
    assert.deepEqual(await receive(audit.queueUrl, 1, 2_000), []);
  });
});
