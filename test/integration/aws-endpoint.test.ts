import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateTopicCommand,
  GetTopicAttributesCommand,
  ListTopicsCommand,
  PublishBatchCommand,
  PublishCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type DynamoServer, startDynamo } from '../../emulator/aws/dynamodb.ts';
import { type AwsEndpoint, startAwsEndpoint } from '../../emulator/aws/endpoint.ts';
import { matchesFilterPolicy, validateFilterPolicy } from '../../emulator/aws/filter-policy.ts';
import { FunctionError, LOCAL_ACCOUNT, LOCAL_REGION } from '../../emulator/topology.ts';

interface Call {
  readonly fn: string;
  readonly event: SnsEvent;
  readonly at: number;
}
interface SnsEvent {
  Records: {
    EventSource: string;
    EventVersion: string;
    EventSubscriptionArn: string;
    Sns: {
      Type: string;
      MessageId: string;
      TopicArn: string;
      Subject: string | null;
      Message: string;
      Timestamp: string;
      SignatureVersion: string;
      Signature: string;
      SigningCertUrl: string;
      UnsubscribeUrl: string;
      MessageAttributes: Record<string, { Type: string; Value: string }>;
    };
  }[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RETRY_DELAYS = [60, 120] as const;

/** A gate the recorder waits on, so a test can hold an invocation open. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe('the local AWS endpoint', () => {
  let dynamo: DynamoServer;
  let endpoint: AwsEndpoint;
  let sns: SNSClient;
  let sqs: SQSClient;
  let ddb: DynamoDBClient;
  const calls: Call[] = [];
  let recorderGate: Promise<void> = Promise.resolve();

  const callsFor = (fn: string, messageId?: string) =>
    calls.filter(
      (c) => c.fn === fn && (messageId === undefined || c.event.Records[0]?.Sns.MessageId === messageId),
    );

  before(async () => {
    dynamo = await startDynamo({ engine: 'dynalite' });
    endpoint = await startAwsEndpoint({
      port: 0,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      dynamoEndpoint: dynamo.endpoint,
      queues: ['dead-letters', 'work', 'failure-records'],
      retryDelaysMs: RETRY_DELAYS,
      topics: [
        {
          name: 'events',
          subscriptions: [
            { function: 'recorder' },
            {
              function: 'filtered',
              filterPolicy: { type: ['chat', { prefix: 'sys.' }], priority: [{ numeric: ['>=', 5] }] },
            },
          ],
        },
        { name: 'failing', subscriptions: [{ function: 'thrower', deadLetterQueue: 'dead-letters' }] },
        { name: 'failing-no-dlq', subscriptions: [{ function: 'thrower' }] },
        {
          name: 'failing-to-destination',
          subscriptions: [
            { function: 'thrower', onFailureQueue: 'failure-records', maximumRetryAttempts: 0 },
          ],
        },
      ],
      // Stands in for the Lambda runtime: records each event; 'thrower' fails like a handler that throws.
      invoke: async (fn, event) => {
        calls.push({ fn, event: event as SnsEvent, at: Date.now() });
        if (fn === 'thrower') throw new FunctionError(fn, 'Error', 'boom: the handler failed');
        if (fn === 'recorder') await recorderGate;
        return null;
      },
    });
    const config = {
      endpoint: endpoint.url,
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    };
    sns = new SNSClient(config);
    sqs = new SQSClient(config);
    ddb = new DynamoDBClient(config);
  });

  after(async () => {
    sns?.destroy();
    sqs?.destroy();
    ddb?.destroy();
    await endpoint?.close();
    await dynamo?.close();
  });

  describe('SNS', () => {
    it('answers Publish before the subscriber runs, then delivers the real SNS event shape', async () => {
      const held = gate();
      recorderGate = held.wait;
      const binary = new Uint8Array([0, 1, 2, 250]);
      const { MessageId } = await sns.send(
        new PublishCommand({
          TopicArn: endpoint.topicArn('events'),
          Message: '{"hello":"wörld"}',
          Subject: 'Greeting',
          MessageAttributes: {
            type: { DataType: 'String', StringValue: 'chat' },
            priority: { DataType: 'Number', StringValue: '7' },
            blob: { DataType: 'Binary', BinaryValue: binary },
          },
        }),
      );
      assert.match(MessageId ?? '', UUID);
      // Publish has answered while the subscriber's invocation is still held open.
      assert.equal(endpoint.stats().published >= 1, true);
      const pendingIdle = endpoint.idle(200);
      await assert.rejects(pendingIdle, { code: 'IDLE_TIMEOUT' });
      held.open();
      recorderGate = Promise.resolve();
      await endpoint.idle(5000);

      const [call] = callsFor('recorder', MessageId);
      assert.ok(call, 'the recorder was invoked with the message');
      assert.equal(call.event.Records.length, 1);
      const record = call.event.Records[0];
      assert.ok(record);
      assert.equal(record.EventSource, 'aws:sns');
      assert.equal(record.EventVersion, '1.0');
      assert.ok(record.EventSubscriptionArn.startsWith(`${endpoint.topicArn('events')}:`));
      const { Sns } = record;
      assert.equal(Sns.Type, 'Notification');
      assert.equal(Sns.MessageId, MessageId);
      assert.equal(Sns.TopicArn, `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:events`);
      assert.equal(Sns.Subject, 'Greeting');
      assert.equal(Sns.Message, '{"hello":"wörld"}');
      assert.equal(new Date(Sns.Timestamp).toISOString(), Sns.Timestamp);
      assert.equal(Sns.SignatureVersion, '1');
      assert.equal(typeof Sns.Signature, 'string');
      assert.ok(Sns.SigningCertUrl.startsWith(endpoint.url));
      assert.ok(Sns.UnsubscribeUrl.includes(`SubscriptionArn=${record.EventSubscriptionArn}`));
      assert.deepEqual(Sns.MessageAttributes, {
        type: { Type: 'String', Value: 'chat' },
        priority: { Type: 'Number', Value: '7' },
        blob: { Type: 'Binary', Value: Buffer.from(binary).toString('base64') },
      });
    });

    it('sets Subject to null when the publisher gives none', async () => {
      const { MessageId } = await sns.send(
        new PublishCommand({ TopicArn: endpoint.topicArn('events'), Message: 'x' }),
      );
      await endpoint.idle(5000);
      assert.equal(callsFor('recorder', MessageId)[0]?.event.Records[0]?.Sns.Subject, null);
    });

    it('invokes a filtered subscriber only for messages whose attributes match its filter policy', async () => {
      const publish = async (attributes: Record<string, { DataType: string; StringValue: string }>) =>
        (
          await sns.send(
            new PublishCommand({
              TopicArn: endpoint.topicArn('events'),
              Message: 'm',
              MessageAttributes: attributes,
            }),
          )
        ).MessageId;
      const chatHigh = await publish({
        type: { DataType: 'String', StringValue: 'chat' },
        priority: { DataType: 'Number', StringValue: '9' },
      });
      const sysPrefix = await publish({
        type: { DataType: 'String', StringValue: 'sys.boot' },
        priority: { DataType: 'Number', StringValue: '5' },
      });
      const chatLow = await publish({
        type: { DataType: 'String', StringValue: 'chat' },
        priority: { DataType: 'Number', StringValue: '4' },
      });
      const otherType = await publish({
        type: { DataType: 'String', StringValue: 'other' },
        priority: { DataType: 'Number', StringValue: '9' },
      });
      const noPriority = await publish({ type: { DataType: 'String', StringValue: 'chat' } });
      await endpoint.idle(5000);

      assert.equal(callsFor('filtered', chatHigh).length, 1);
      assert.equal(callsFor('filtered', sysPrefix).length, 1);
      assert.equal(callsFor('filtered', chatLow).length, 0);
      assert.equal(callsFor('filtered', otherType).length, 0);
      assert.equal(callsFor('filtered', noPriority).length, 0);
      // The unfiltered subscriber of the same topic gets all five.
      for (const id of [chatHigh, sysPrefix, chatLow, otherType, noPriority]) {
        assert.equal(callsFor('recorder', id).length, 1);
      }
    });

    it('publishes each PublishBatch entry as its own event and reports failed entries', async () => {
      const result = await sns.send(
        new PublishBatchCommand({
          TopicArn: endpoint.topicArn('events'),
          PublishBatchRequestEntries: [
            {
              Id: 'first',
              Message: 'one',
              MessageAttributes: { type: { DataType: 'String', StringValue: 'a' } },
            },
            { Id: 'empty', Message: '' },
            { Id: 'third', Message: 'three', Subject: 'S' },
          ],
        }),
      );
      assert.deepEqual(
        result.Successful?.map((s) => s.Id),
        ['first', 'third'],
      );
      assert.equal(result.Failed?.length, 1);
      assert.equal(result.Failed?.[0]?.Id, 'empty');
      assert.equal(result.Failed?.[0]?.Code, 'InvalidParameter');
      assert.equal(result.Failed?.[0]?.SenderFault, true);
      await endpoint.idle(5000);
      for (const entry of result.Successful ?? []) {
        assert.match(entry.MessageId ?? '', UUID);
        const [call] = callsFor('recorder', entry.MessageId);
        assert.equal(call?.event.Records.length, 1);
      }
      assert.equal(
        callsFor('recorder', result.Successful?.[1]?.MessageId)[0]?.event.Records[0]?.Sns.Message,
        'three',
      );
    });

    it('refuses PublishBatch requests that break the batch rules, with the AWS error names', async () => {
      const topic = endpoint.topicArn('events');
      const entries = (n: number, size = 1) =>
        Array.from({ length: n }, (_, i) => ({ Id: `e${i}`, Message: 'x'.repeat(size) }));
      await assert.rejects(
        sns.send(new PublishBatchCommand({ TopicArn: topic, PublishBatchRequestEntries: entries(11) })),
        { name: 'TooManyEntriesInBatchRequestException' },
      );
      await assert.rejects(
        sns.send(
          new PublishBatchCommand({
            TopicArn: topic,
            PublishBatchRequestEntries: [
              { Id: 'same', Message: 'a' },
              { Id: 'same', Message: 'b' },
            ],
          }),
        ),
        { name: 'BatchEntryIdsNotDistinctException' },
      );
      await assert.rejects(
        sns.send(new PublishBatchCommand({ TopicArn: topic, PublishBatchRequestEntries: [] })),
        {
          name: 'EmptyBatchRequestException',
        },
      );
      const before = endpoint.stats().published;
      await assert.rejects(
        sns.send(
          new PublishBatchCommand({ TopicArn: topic, PublishBatchRequestEntries: entries(2, 140_000) }),
        ),
        { name: 'BatchRequestTooLongException' },
      );
      assert.equal(endpoint.stats().published, before, 'nothing of a refused batch is published');
    });

    it('refuses a message over 256 KB, attributes included, with InvalidParameter', async () => {
      const topic = endpoint.topicArn('events');
      // 262144 bytes exactly is accepted: body plus attribute name, type and value.
      const attribute = { k: { DataType: 'String', StringValue: 'v' } }; // 1 + 6 + 1 bytes
      await sns.send(
        new PublishCommand({
          TopicArn: topic,
          Message: 'x'.repeat(262_144 - 8),
          MessageAttributes: attribute,
        }),
      );
      await assert.rejects(
        sns.send(
          new PublishCommand({
            TopicArn: topic,
            Message: 'x'.repeat(262_144 - 7),
            MessageAttributes: attribute,
          }),
        ),
        (error: Error & { Code?: string }) => {
          assert.equal(error.name, 'InvalidParameterException');
          assert.equal(error.Code, 'InvalidParameter');
          assert.match(error.message, /Message too long/);
          return true;
        },
      );
      await endpoint.idle(5000);
    });

    it('answers NotFound for a topic that does not exist', async () => {
      await assert.rejects(
        sns.send(new PublishCommand({ TopicArn: endpoint.topicArn('nowhere'), Message: 'x' })),
        (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
          assert.equal(error.name, 'NotFoundException');
          assert.equal(error.$metadata?.httpStatusCode, 404);
          return true;
        },
      );
    });

    it('creates topics idempotently and lists and describes them', async () => {
      const first = await sns.send(new CreateTopicCommand({ Name: 'created-later' }));
      const second = await sns.send(new CreateTopicCommand({ Name: 'created-later' }));
      assert.equal(first.TopicArn, endpoint.topicArn('created-later'));
      assert.equal(second.TopicArn, first.TopicArn);
      const listed = await sns.send(new ListTopicsCommand({}));
      const arns = listed.Topics?.map((t) => t.TopicArn) ?? [];
      assert.ok(arns.includes(endpoint.topicArn('events')));
      assert.ok(arns.includes(endpoint.topicArn('created-later')));
      const attributes = await sns.send(
        new GetTopicAttributesCommand({ TopicArn: endpoint.topicArn('events') }),
      );
      assert.equal(attributes.Attributes?.TopicArn, endpoint.topicArn('events'));
      assert.equal(attributes.Attributes?.SubscriptionsConfirmed, '2');
      await assert.rejects(sns.send(new CreateTopicCommand({ Name: 'bad name!' })), {
        name: 'InvalidParameterException',
      });
    });
  });

  describe('Lambda asynchronous invocation', () => {
    it('retries a failing invocation twice, then puts the event in the dead-letter queue with Lambda attributes', async () => {
      const before = endpoint.stats();
      const { MessageId } = await sns.send(
        new PublishCommand({ TopicArn: endpoint.topicArn('failing'), Message: 'doomed' }),
      );
      await endpoint.idle(5000);

      const attempts = callsFor('thrower', MessageId);
      assert.equal(attempts.length, 3, 'one invocation and two retries');
      const [a0, a1, a2] = attempts.map((a) => a.at);
      assert.ok(a0 !== undefined && a1 !== undefined && a2 !== undefined);
      assert.ok(a1 - a0 >= RETRY_DELAYS[0] - 5, 'the first retry waits its delay');
      assert.ok(a2 - a1 >= RETRY_DELAYS[1] - 5, 'the second retry waits its delay');
      const after = endpoint.stats();
      assert.equal(after.failedInvocations - before.failedInvocations, 3);
      assert.equal(after.deadLettered - before.deadLettered, 1);

      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: endpoint.queueUrl('dead-letters'),
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 1,
        }),
      );
      assert.equal(received.Messages?.length, 1);
      const dead = received.Messages?.[0];
      assert.ok(dead?.Body);
      const event = JSON.parse(dead.Body) as SnsEvent;
      assert.deepEqual(event, attempts[0]?.event, 'the body is the event, unchanged');
      assert.equal(event.Records[0]?.Sns.Message, 'doomed');
      const attributes = dead.MessageAttributes ?? {};
      assert.equal(attributes.RequestID?.DataType, 'String');
      assert.match(attributes.RequestID?.StringValue ?? '', UUID);
      assert.equal(attributes.ErrorCode?.DataType, 'Number');
      assert.equal(attributes.ErrorCode?.StringValue, '200');
      assert.equal(attributes.ErrorMessage?.DataType, 'String');
      assert.equal(attributes.ErrorMessage?.StringValue, 'boom: the handler failed');
      await sqs.send(
        new DeleteMessageCommand({
          QueueUrl: endpoint.queueUrl('dead-letters'),
          ReceiptHandle: dead.ReceiptHandle,
        }),
      );
    });

    it("honours MaximumRetryAttempts 0 and sends Lambda's invocation record to the on-failure destination", async () => {
      const before = endpoint.stats();
      const { MessageId } = await sns.send(
        new PublishCommand({ TopicArn: endpoint.topicArn('failing-to-destination'), Message: 'recorded' }),
      );
      await endpoint.idle(5000);

      const attempts = callsFor('thrower', MessageId);
      assert.equal(attempts.length, 1, 'no retry');
      assert.equal(endpoint.stats().deadLettered - before.deadLettered, 1);
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: endpoint.queueUrl('failure-records'),
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      assert.equal(received.Messages?.length, 1);
      const record = JSON.parse(received.Messages?.[0]?.Body ?? '{}') as {
        version: string;
        timestamp: string;
        requestContext: {
          requestId: string;
          functionArn: string;
          condition: string;
          approximateInvokeCount: number;
        };
        requestPayload: SnsEvent;
        responseContext: { statusCode: number; executedVersion: string; functionError: string };
        responsePayload: { errorType: string; errorMessage: string };
      };
      // The record wraps the event; a dead-letter queue would have received the event itself.
      assert.equal(record.version, '1.0');
      assert.ok(!Number.isNaN(Date.parse(record.timestamp)));
      assert.match(record.requestContext.requestId, UUID);
      assert.equal(
        record.requestContext.functionArn,
        `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:thrower:$LATEST`,
      );
      assert.equal(record.requestContext.condition, 'RetriesExhausted');
      assert.equal(record.requestContext.approximateInvokeCount, 1);
      assert.deepEqual(record.requestPayload, attempts[0]?.event);
      assert.deepEqual(record.responseContext, {
        statusCode: 200,
        executedVersion: '$LATEST',
        functionError: 'Unhandled',
      });
      assert.equal(record.responsePayload.errorType, 'Error');
      assert.equal(record.responsePayload.errorMessage, 'boom: the handler failed');
      await sqs.send(
        new DeleteMessageCommand({
          QueueUrl: endpoint.queueUrl('failure-records'),
          ReceiptHandle: received.Messages?.[0]?.ReceiptHandle,
        }),
      );
    });

    it('refuses retry attempts and event ages that Lambda refuses', async () => {
      for (const [sub, message] of [
        [{ function: 'f', maximumRetryAttempts: 3 }, /maximumRetryAttempts must be 0, 1 or 2/],
        [{ function: 'f', maximumEventAgeSeconds: 30 }, /maximumEventAgeSeconds must be 60 to 21600/],
        [
          { function: 'f', onFailureQueue: 'missing' },
          /on-failure destination missing is not among the queues/,
        ],
      ] as const) {
        await assert.rejects(
          startAwsEndpoint({
            port: 0,
            region: LOCAL_REGION,
            accountId: LOCAL_ACCOUNT,
            dynamoEndpoint: dynamo.endpoint,
            queues: [],
            topics: [{ name: 't', subscriptions: [sub] }],
            invoke: async () => null,
          }),
          message,
        );
      }
    });

    it('drops and counts an event that keeps failing when there is no dead-letter queue', async () => {
      const before = endpoint.stats();
      const { MessageId } = await sns.send(
        new PublishCommand({ TopicArn: endpoint.topicArn('failing-no-dlq'), Message: 'lost' }),
      );
      await endpoint.idle(5000);
      assert.equal(callsFor('thrower', MessageId).length, 3);
      assert.equal(endpoint.stats().dropped - before.dropped, 1);
      assert.equal(endpoint.stats().deadLettered, before.deadLettered);
    });
  });

  describe('SQS', () => {
    it('round-trips messages with attributes, and the SDK accepts every MD5 it checks', async () => {
      const created = await sqs.send(new CreateQueueCommand({ QueueName: 'round-trip' }));
      assert.equal(created.QueueUrl, `${endpoint.url}/${LOCAL_ACCOUNT}/round-trip`);
      const again = await sqs.send(new CreateQueueCommand({ QueueName: 'round-trip' }));
      assert.equal(again.QueueUrl, created.QueueUrl);
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'round-trip' }));
      assert.equal(QueueUrl, created.QueueUrl);

      // Non-ASCII bodies: the SDK recomputes the MD5 of the UTF-8 bytes on send and on receive.
      const body = 'héllo ✓ 😀';
      const sent = await sqs.send(
        new SendMessageCommand({
          QueueUrl,
          MessageBody: body,
          MessageAttributes: {
            kind: { DataType: 'String', StringValue: 'greeting' },
            count: { DataType: 'Number', StringValue: '3' },
            raw: { DataType: 'Binary', BinaryValue: new Uint8Array([1, 2, 3]) },
          },
        }),
      );
      assert.equal(sent.MD5OfMessageBody, createHash('md5').update(body).digest('hex'));
      assert.match(sent.MD5OfMessageAttributes ?? '', /^[0-9a-f]{32}$/);
      const batch = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: [
            { Id: 'b1', MessageBody: 'batch one' },
            { Id: 'b2', MessageBody: 'batch two' },
          ],
        }),
      );
      assert.equal(batch.Successful?.length, 2);

      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          VisibilityTimeout: 30,
        }),
      );
      const messages = received.Messages ?? [];
      assert.deepEqual(
        messages.map((m) => m.Body),
        [body, 'batch one', 'batch two'],
      );
      const first = messages[0];
      assert.equal(first?.MessageId, sent.MessageId);
      assert.equal(first?.MD5OfMessageAttributes, sent.MD5OfMessageAttributes);
      assert.equal(first?.MessageAttributes?.kind?.StringValue, 'greeting');
      assert.deepEqual([...(first?.MessageAttributes?.raw?.BinaryValue ?? [])], [1, 2, 3]);
      assert.equal(first?.Attributes?.ApproximateReceiveCount, '1');

      const counts = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl,
          AttributeNames: [
            'ApproximateNumberOfMessages',
            'ApproximateNumberOfMessagesNotVisible',
            'QueueArn',
          ],
        }),
      );
      assert.deepEqual(counts.Attributes, {
        ApproximateNumberOfMessages: '0',
        ApproximateNumberOfMessagesNotVisible: '3',
        QueueArn: `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT}:round-trip`,
      });

      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: first?.ReceiptHandle }));
      const deleted = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl,
          Entries: [
            { Id: 'd1', ReceiptHandle: messages[1]?.ReceiptHandle },
            { Id: 'd2', ReceiptHandle: 'not-a-handle' },
          ],
        }),
      );
      assert.deepEqual(
        deleted.Successful?.map((s) => s.Id),
        ['d1'],
      );
      assert.equal(deleted.Failed?.[0]?.Code, 'ReceiptHandleIsInvalid');

      // Making the last one visible again lets it be received a second time.
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl,
          ReceiptHandle: messages[2]?.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
      const redelivered = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
      );
      assert.equal(redelivered.Messages?.[0]?.Body, 'batch two');
      assert.equal(redelivered.Messages?.[0]?.Attributes?.ApproximateReceiveCount, '2');

      await sqs.send(new PurgeQueueCommand({ QueueUrl }));
      const empty = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
      assert.equal(empty.Attributes?.ApproximateNumberOfMessages, '0');
      assert.equal(empty.Attributes?.ApproximateNumberOfMessagesNotVisible, '0');

      const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'round' }));
      assert.deepEqual(listed.QueueUrls, [QueueUrl]);
    });

    it('computes MD5OfMessageAttributes as SQS does', async () => {
      // Known value for this attribute set, as published with AWS's checksum algorithm.
      const sent = await sqs.send(
        new SendMessageCommand({
          QueueUrl: endpoint.queueUrl('work'),
          MessageBody: 'checksum',
          MessageAttributes: { SellerName: { DataType: 'String', StringValue: 'Example Store' } },
        }),
      );
      assert.equal(sent.MD5OfMessageAttributes, 'cd28f3b68aeee4b2eac9c66f2f694b58');
      await sqs.send(new PurgeQueueCommand({ QueueUrl: endpoint.queueUrl('work') }));
    });

    it('returns messages received with a long poll as soon as they are sent', async () => {
      const QueueUrl = endpoint.queueUrl('work');
      const started = Date.now();
      const polling = sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 20 }));
      // Only makes it likely that the poll is already waiting; nothing below depends on it.
      await new Promise((r) => setTimeout(r, 200));
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'late arrival' }));
      const received = await polling;
      assert.equal(received.Messages?.[0]?.Body, 'late arrival');
      // A poll held to its deadline would have lasted 20 s: the bound is the deadline, not a speed.
      assert.ok(
        Date.now() - started < 20_000,
        'the poll ended when the message arrived, not at its deadline',
      );
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl, ReceiptHandle: received.Messages?.[0]?.ReceiptHandle }),
      );
    });

    it('ends an empty long poll at its deadline with no messages', async () => {
      const started = Date.now();
      const received = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: endpoint.queueUrl('work'), WaitTimeSeconds: 1 }),
      );
      assert.equal(received.Messages, undefined);
      assert.ok(Date.now() - started >= 900);
    });

    it('reports a missing queue as QueueDoesNotExist and bad parameters as InvalidParameterValue', async () => {
      await assert.rejects(sqs.send(new GetQueueUrlCommand({ QueueName: 'no-such-queue' })), {
        name: 'QueueDoesNotExist',
      });
      await assert.rejects(
        sqs.send(new SendMessageCommand({ QueueUrl: endpoint.queueUrl('no-such-queue'), MessageBody: 'x' })),
        { name: 'QueueDoesNotExist' },
      );
      await assert.rejects(
        sqs.send(new ReceiveMessageCommand({ QueueUrl: endpoint.queueUrl('work'), MaxNumberOfMessages: 11 })),
        { name: 'InvalidParameterValue' },
      );
      await assert.rejects(
        sqs.send(
          new SendMessageCommand({ QueueUrl: endpoint.queueUrl('work'), MessageBody: 'x'.repeat(262_145) }),
        ),
        { name: 'InvalidParameterValue' },
      );
    });
  });

  describe('DynamoDB', () => {
    it('proxies DynamoDB requests to the engine through the same endpoint', async () => {
      await ddb.send(
        new CreateTableCommand({
          TableName: 'proxied',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
      for (const sk of ['a', 'b']) {
        await ddb.send(
          new PutItemCommand({ TableName: 'proxied', Item: { pk: { S: 'user#1' }, sk: { S: sk } } }),
        );
      }
      const result = await ddb.send(
        new QueryCommand({
          TableName: 'proxied',
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: 'user#1' } },
        }),
      );
      assert.deepEqual(
        result.Items?.map((i) => i.sk?.S),
        ['a', 'b'],
      );
    });
  });

  it('serves SNS, SQS and DynamoDB clients configured only by AWS_ENDPOINT_URL', async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = endpoint.url;
    const config = {
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'any', secretAccessKey: 'any' },
      maxAttempts: 1,
    };
    const envSns = new SNSClient(config);
    const envSqs = new SQSClient(config);
    const envDdb = new DynamoDBClient(config);
    try {
      const topics = await envSns.send(new ListTopicsCommand({}));
      assert.ok(topics.Topics?.some((t) => t.TopicArn === endpoint.topicArn('events')));
      const queue = await envSqs.send(new GetQueueUrlCommand({ QueueName: 'work' }));
      assert.equal(queue.QueueUrl, endpoint.queueUrl('work'));
      const tables = await envDdb.send(new ListTablesCommand({}));
      assert.ok(Array.isArray(tables.TableNames), 'the DynamoDB engine answered through the endpoint');
    } finally {
      envSns.destroy();
      envSqs.destroy();
      envDdb.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
    }
  });

  it('refuses to start on a port in use, naming the port', async () => {
    await assert.rejects(
      startAwsEndpoint({
        port: endpoint.port,
        region: LOCAL_REGION,
        accountId: LOCAL_ACCOUNT,
        dynamoEndpoint: dynamo.endpoint,
        topics: [],
        queues: [],
        invoke: async () => null,
      }),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'PORT_IN_USE');
        assert.ok(error.message.includes(String(endpoint.port)));
        return true;
      },
    );
  });

  it('refuses a topology whose dead-letter queue is not among the queues', async () => {
    await assert.rejects(
      startAwsEndpoint({
        port: 0,
        region: LOCAL_REGION,
        accountId: LOCAL_ACCOUNT,
        dynamoEndpoint: dynamo.endpoint,
        topics: [{ name: 't', subscriptions: [{ function: 'f', deadLetterQueue: 'missing' }] }],
        queues: [],
        invoke: async () => null,
      }),
      { code: 'INVALID_TOPOLOGY' },
    );
  });
});

describe('SNS filter policies', () => {
  const attrs = (entries: Record<string, [string, string]>) =>
    Object.fromEntries(Object.entries(entries).map(([k, [type, value]]) => [k, { type, value }]));

  it('matches exact strings, prefixes and numeric ranges, AND across keys and OR within one', () => {
    const policy = { color: ['red', { prefix: 'bl' }], price: [{ numeric: ['>', 0, '<=', 150] }] };
    assert.equal(
      matchesFilterPolicy(policy, attrs({ color: ['String', 'red'], price: ['Number', '150'] })),
      true,
    );
    assert.equal(
      matchesFilterPolicy(policy, attrs({ color: ['String', 'blue'], price: ['Number', '1e2'] })),
      true,
    );
    assert.equal(
      matchesFilterPolicy(policy, attrs({ color: ['String', 'green'], price: ['Number', '10'] })),
      false,
    );
    assert.equal(
      matchesFilterPolicy(policy, attrs({ color: ['String', 'red'], price: ['Number', '151'] })),
      false,
    );
    assert.equal(matchesFilterPolicy(policy, attrs({ color: ['String', 'red'] })), false);
  });

  it('matches anything-but only when the attribute is present with another value', () => {
    const policy = { size: [{ 'anything-but': ['small', 'medium'] }] };
    assert.equal(matchesFilterPolicy(policy, attrs({ size: ['String', 'large'] })), true);
    assert.equal(matchesFilterPolicy(policy, attrs({ size: ['String', 'small'] })), false);
    assert.equal(matchesFilterPolicy(policy, attrs({})), false);
    const prefix = { id: [{ 'anything-but': { prefix: 'test-' } }] };
    assert.equal(matchesFilterPolicy(prefix, attrs({ id: ['String', 'prod-1'] })), true);
    assert.equal(matchesFilterPolicy(prefix, attrs({ id: ['String', 'test-1'] })), false);
  });

  it('matches exists, numeric equality, string arrays and $or, and ignores binary attributes', () => {
    assert.equal(matchesFilterPolicy({ store: [{ exists: true }] }, attrs({ store: ['String', 'x'] })), true);
    assert.equal(matchesFilterPolicy({ store: [{ exists: false }] }, attrs({})), true);
    assert.equal(
      matchesFilterPolicy({ store: [{ exists: false }] }, attrs({ store: ['String', 'x'] })),
      false,
    );
    assert.equal(matchesFilterPolicy({ n: [301.5] }, attrs({ n: ['Number', '3.015e2'] })), true);
    assert.equal(matchesFilterPolicy({ n: ['5'] }, attrs({ n: ['Number', '5'] })), false);
    assert.equal(
      matchesFilterPolicy({ tags: ['rugby'] }, attrs({ tags: ['String.Array', '["soccer","rugby"]'] })),
      true,
    );
    assert.equal(matchesFilterPolicy({ b: [{ exists: true }] }, attrs({ b: ['Binary', 'AAE='] })), false);
    const either = { $or: [{ a: ['1'] }, { b: ['2'] }] };
    assert.equal(matchesFilterPolicy(either, attrs({ b: ['String', '2'] })), true);
    assert.equal(matchesFilterPolicy(either, attrs({ a: ['String', '2'] })), false);
  });

  it('rejects policies it cannot evaluate faithfully', () => {
    assert.throws(() => validateFilterPolicy({ body: { nested: ['x'] } }), { code: 'INVALID_FILTER_POLICY' });
    assert.throws(() => validateFilterPolicy({ ip: [{ cidr: '10.0.0.0/8' }] }), {
      code: 'INVALID_FILTER_POLICY',
    });
    assert.doesNotThrow(() => validateFilterPolicy({ a: ['x', { numeric: ['>=', 1] }] }));
  });
});
