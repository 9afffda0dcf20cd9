import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type AwsEndpoint, startAwsEndpoint } from '../../emulator/aws/endpoint.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../emulator/topology.ts';

/**
 * The rejected queue keeps every envelope the deliver function refuses, on the local SQS (which
 * counts body and attributes against the queue's 256 KB as SQS does). A bug found: a body near
 * SNS's 256 KB limit plus its reason did not fit, SQS refused it, and the event was lost.
 */
describe('the rejected queue', () => {
  let endpoint: AwsEndpoint;
  let sqs: SQSClient;
  let keepRejected: typeof import('../../functions/adapters/rejected-queue.ts').keepRejected;

  before(async () => {
    endpoint = await startAwsEndpoint({
      port: 0,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      // Nothing here calls DynamoDB.
      dynamoEndpoint: 'http://127.0.0.1:9',
      queues: ['rejected'],
      topics: [],
      invoke: async () => null,
    });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: endpoint.url,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    // The module makes its SQS client at load, from the environment set above.
    ({ keepRejected } = await import('../../functions/adapters/rejected-queue.ts'));
    sqs = new SQSClient({
      endpoint: endpoint.url,
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });

  after(async () => {
    sqs.destroy();
    await endpoint.close();
  });

  const receiveOne = async () => {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: endpoint.queueUrl('rejected'),
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    assert.equal(answer.Messages?.length, 1);
    return answer.Messages?.[0] as NonNullable<typeof answer.Messages>[number];
  };

  it('keeps a small rejected body exactly, with its reason', async () => {
    await keepRejected(endpoint.queueUrl('rejected'), {
      body: '{"to":',
      code: 'NOT_JSON',
      reason: 'INVALID_ENVELOPE: not JSON',
      snsMessageId: 'm-1',
      topicArn: 'arn:aws:sns:us-east-1:000000000000:t',
    });
    const message = await receiveOne();
    assert.equal(message.Body, '{"to":');
    assert.equal(message.MessageAttributes?.reason?.StringValue, 'INVALID_ENVELOPE: not JSON');
    assert.equal(message.MessageAttributes?.code?.StringValue, 'NOT_JSON');
    assert.equal(message.MessageAttributes?.truncated, undefined);
  });

  it('keeps a body too large to fit beside its attributes, cut to fit and marked truncated', async () => {
    // 256 KB of SNS message, ending in characters of 3 bytes so the cut falls inside one.
    const body = `${'x'.repeat(262_144 - 3 * 300)}${'€'.repeat(300)}`;
    assert.equal(Buffer.byteLength(body), 262_144);
    await keepRejected(endpoint.queueUrl('rejected'), {
      body,
      code: 'INVALID_FIELDS',
      reason: `INVALID_ENVELOPE: ${'r'.repeat(2_000)}`,
      snsMessageId: 'm-2',
      topicArn: 'arn:aws:sns:us-east-1:000000000000:t',
    });

    const message = await receiveOne();
    const kept = message.Body ?? '';
    assert.ok(kept.length > 200_000, 'most of the body is kept');
    assert.ok(body.startsWith(kept), 'what is kept is a prefix of the body, whole characters only');
    assert.ok(!kept.endsWith('\uFFFD'));
    assert.equal(message.MessageAttributes?.truncated?.StringValue, 'true');
    assert.equal(message.MessageAttributes?.originalBytes?.StringValue, '262144');
    assert.equal(message.MessageAttributes?.snsMessageId?.StringValue, 'm-2');
    assert.equal(message.MessageAttributes?.reason?.StringValue?.length, 1024);
  });

  it('keeps a body with characters SQS refuses as base64, and cleans its reason', async () => {
    // Not JSON, so rejected; SQS takes no control characters (it refused the message, and the
    // event was lost, before the body was encoded).
    const body = '\u0010\u0003 not json \u0000 €';
    await keepRejected(endpoint.queueUrl('rejected'), {
      body,
      code: 'INVALID_FIELDS',
      reason: 'INVALID_ENVELOPE: Unrecognized key: "\u0003"',
      snsMessageId: 'm-3',
      topicArn: 'arn:aws:sns:us-east-1:000000000000:t',
    });

    const message = await receiveOne();
    assert.equal(message.MessageAttributes?.encoding?.StringValue, 'base64');
    assert.equal(Buffer.from(message.Body ?? '', 'base64').toString('utf8'), body);
    assert.equal(
      message.MessageAttributes?.reason?.StringValue,
      'INVALID_ENVELOPE: Unrecognized key: "\uFFFD"',
    );
    assert.equal(message.MessageAttributes?.truncated, undefined);
  });
});
