import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { functionAccessKeyId } from '../../local/stack.ts';
import { startTarget, type Target, unique } from '../support/target.ts';
import { eventually, HandshakeRefused, TestSocket } from '../support/ws-client.ts';

/** What the SDK throws, as a caller narrows it: by name and status. */
async function rejection(
  call: Promise<unknown>,
): Promise<{ name: string; status?: number; message: string }> {
  try {
    await call;
  } catch (error) {
    const { name, message, $metadata } = error as Error & { $metadata?: { httpStatusCode?: number } };
    return { name, message, status: $metadata?.httpStatusCode };
  }
  throw new Error('the call was allowed');
}

describe('strict IAM on the real template', () => {
  let target: Target;
  const sockets: TestSocket[] = [];

  before(async () => {
    target = await startTarget({ strictIam: true });
  });
  after(async () => {
    await Promise.all(sockets.map((socket) => socket.close()));
    await target.stop();
  });

  it("lets every function do its work with its own role's grants", async () => {
    const alice = unique('alice');
    const socket = await target.connect(alice, { topics: ['news'] });
    sockets.push(socket);
    socket.send({ action: 'ping', id: 'p1' });
    await socket.next((frame) => frame.kind === 'pong');
    await target.publish({ v: 1, to: { users: [alice] }, type: 'greeting', data: 'hi', persist: true });
    const message = await socket.next((frame) => frame.kind === 'message' && frame.data === 'hi');
    socket.send({ action: 'ack', ids: [message.id] });
    socket.send({ action: 'subscribe', topic: 'news' });
    await socket.next((frame) => frame.kind === 'subscribed');
    await target.publish({ v: 1, to: { topic: 'news' }, type: 'headline', data: 'extra' });
    await socket.next((frame) => frame.kind === 'message' && frame.data === 'extra');
    socket.send({ action: 'resume' });
    await socket.next((frame) => frame.kind === 'unread' || frame.kind === 'resumed');
    await socket.close();
    await target.local?.idle();
    assert.deepEqual(target.local?.accessDenials(), []);
  });

  it('refuses a call signed as a function whose role lacks the grant, as AWS does', async () => {
    const config = {
      region: target.outputs.Region,
      endpoint: target.outputs.AwsEndpointUrl,
      credentials: { accessKeyId: functionAccessKeyId('connect'), secretAccessKey: 'local' },
    };
    const role = /^User: arn:aws:sts::000000000000:assumed-role\/PushlineConnectRole[A-Z0-9]*\/connect /;

    const dynamo = new DynamoDBClient(config);
    const item = { pk: { S: 'x' }, sk: { S: 'y' } };
    const denied = await rejection(
      dynamo.send(new PutItemCommand({ TableName: `${target.outputs.TableName}-other`, Item: item })),
    );
    assert.equal(denied.name, 'AccessDeniedException');
    assert.equal(denied.status, 400);
    assert.match(denied.message, role);
    assert.match(
      denied.message,
      /perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:000000000000:table\/.*-other because no identity-based policy allows the dynamodb:PutItem action$/,
    );
    dynamo.destroy();

    const sns = new SNSClient(config);
    const published = await rejection(
      sns.send(new PublishCommand({ TopicArn: target.outputs.TopicArn, Message: '{}' })),
    );
    assert.equal(published.name, 'AuthorizationErrorException');
    assert.equal(published.status, 403);
    assert.match(published.message, /perform: SNS:Publish on resource: arn:aws:sns:/);
    sns.destroy();

    const sqs = new SQSClient(config);
    const sent = await rejection(
      sqs.send(new SendMessageCommand({ QueueUrl: target.outputs.RejectedQueueUrl, MessageBody: 'x' })),
    );
    assert.equal(sent.name, 'AccessDenied');
    assert.equal(sent.status, 403);
    assert.match(sent.message, /perform: sqs:sendmessage on resource: arn:aws:sqs:/);
    sqs.destroy();

    const management = new ApiGatewayManagementApiClient({ ...config, endpoint: target.outputs.CallbackUrl });
    const posted = await rejection(
      management.send(new PostToConnectionCommand({ ConnectionId: 'abc=', Data: Buffer.from('x') })),
    );
    assert.equal(posted.name, 'AccessDeniedException');
    assert.equal(posted.status, 403);
    assert.match(
      posted.message,
      /perform: execute-api:ManageConnections on resource: arn:aws:execute-api:us-east-1:000000000000:[a-z0-9]{10}\/prod\/POST\/@connections\/abc=/,
    );
    management.destroy();
  });

  it("still answers an injected table fault to a function's allowed call", async () => {
    const local = target.local ?? assert.fail('needs the local stack');
    const before = local.awsStats().dynamoFaultsInjected;
    const deniedBefore = local.accessDenials().length;
    local.setTableFaults({ errorRate: 1, errorType: 'InternalServerError' });
    try {
      await assert.rejects(target.connect(unique('carol')), HandshakeRefused);
    } finally {
      local.setTableFaults({});
    }
    assert.ok(local.awsStats().dynamoFaultsInjected > before);
    assert.equal(local.accessDenials().length, deniedBefore);
  });

  it('does not check calls signed with other keys (tests, the CLI)', async () => {
    const id = await target.publish({ v: 1, to: { users: [unique('nobody')] }, type: 'greeting', data: 1 });
    assert.ok(id);
  });
});

describe('strict IAM with a grant taken out of a role', () => {
  let target: Target;
  const lines: string[] = [];

  before(async () => {
    target = await startTarget({
      strictIam: true,
      revokeGrants: { connect: ['dynamodb:PutItem'] },
      quiet: false,
      log: (line) => lines.push(line),
    });
  });
  after(async () => {
    await target.stop();
  });

  it('refuses the connection whose $connect function may no longer write its row', async () => {
    const url = `${target.outputs.WebSocketUrl}?token=${encodeURIComponent(await target.token(unique('bob')))}`;
    const refused = await TestSocket.open(url).then(
      async (socket) => {
        await socket.close();
        return undefined;
      },
      (error: unknown) => error,
    );
    assert.ok(refused instanceof HandshakeRefused, `the handshake was not refused: ${String(refused)}`);
    await eventually(() => (target.local?.accessDenials().length ?? 0) > 0, 10_000, 'a denial');
    const [denial] = target.local?.accessDenials() ?? [];
    assert.equal(denial?.action, 'dynamodb:PutItem');
    assert.match(denial?.principal ?? '', /assumed-role\/PushlineConnectRole[A-Z0-9]*\/connect$/);
    assert.equal(denial?.explicit, false);
    // The function's SDK threw what it would throw on AWS, and the gateway logged it.
    assert.ok(
      lines.some((line) =>
        /\$connect connect failed: .*AccessDeniedException: User: arn:aws:sts::000000000000:assumed-role\/PushlineConnectRole[A-Z0-9]*\/connect is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:/.test(
          line,
        ),
      ),
      lines.filter((line) => line.includes('connect failed')).join('\n'),
    );
  });
});
