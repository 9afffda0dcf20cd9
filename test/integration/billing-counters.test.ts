/**
 * The local runtime's billing counters (docs/local-runtime.md, "Counters"): what bench/cost.ts
 * prices. Each count is checked against a request whose bill is known from AWS's rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { PublishBatchCommand, PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import WebSocket from 'ws';
import { type DynamoServer, startDynamo } from '../../emulator/aws/dynamodb.ts';
import { type AwsEndpoint, startAwsEndpoint } from '../../emulator/aws/endpoint.ts';
import { type Gateway, startGateway } from '../../emulator/gateway/gateway.ts';
import { LambdaRuntime } from '../../emulator/lambda/lambda-runtime.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../emulator/topology.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/gateway/${name}.ts`, import.meta.url));
const KB = 1024;

describe('billing counters of the local AWS endpoint', () => {
  let dynamo: DynamoServer;
  let endpoint: AwsEndpoint;
  let sns: SNSClient;
  let ddb: DynamoDBClient;
  let topicArn: string;

  before(async () => {
    // The engine the local stack would use: PUSHLINE_DYNAMO, else DynamoDB Local with Java, else dynalite.
    const engine = process.env.PUSHLINE_DYNAMO;
    dynamo = await startDynamo({
      engine: engine === 'dynalite' || engine === 'dynamodb-local' ? engine : 'auto',
    });
    endpoint = await startAwsEndpoint({
      port: 0,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      dynamoEndpoint: dynamo.endpoint,
      queues: [],
      topics: [{ name: 'billing', subscriptions: [] }],
      invoke: async () => null,
    });
    topicArn = endpoint.topicArn('billing');
    sns = new SNSClient({ endpoint: endpoint.url, region: LOCAL_REGION, credentials });
    ddb = new DynamoDBClient({ endpoint: endpoint.url, region: LOCAL_REGION, credentials, maxAttempts: 1 });
    await ddb.send(
      new CreateTableCommand({
        TableName: 'billing',
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
  });

  after(async () => {
    sns?.destroy();
    ddb?.destroy();
    await endpoint?.close();
    await dynamo?.close();
  });

  it('bills a Publish per started 64 KB of its payload', async () => {
    const before = endpoint.stats().snsRequests;

    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'x'.repeat(70 * KB) }));
    await sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'small' }));

    const after = endpoint.stats().snsRequests;
    assert.equal(after.publish - before.publish, 2);
    assert.equal(after.billed - before.billed, 3, '70 KB is two billed requests, 5 bytes one');
  });

  it('bills a PublishBatch on the total payload of its messages, not per entry', async () => {
    const before = endpoint.stats().snsRequests;

    const ten = Array.from({ length: 10 }, (_, i) => ({ Id: `m${i}`, Message: `message ${i}` }));
    await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: ten }));
    const three = Array.from({ length: 3 }, (_, i) => ({ Id: `b${i}`, Message: 'y'.repeat(30 * KB) }));
    await sns.send(new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: three }));

    const after = endpoint.stats().snsRequests;
    assert.equal(after.publishBatch - before.publishBatch, 2);
    assert.equal(after.publish - before.publish, 0);
    // Ten small messages: one request. 3 × 30 KB = 90 KB: two (billed per entry it would be three).
    assert.equal(after.billed - before.billed, 3);
  });

  it('counts no request SNS refused', async () => {
    const before = endpoint.stats().snsRequests;

    await assert.rejects(sns.send(new PublishCommand({ TopicArn: topicArn, Message: 'z'.repeat(300 * KB) })));

    assert.deepEqual(endpoint.stats().snsRequests, before);
  });

  it('counts the write and read units DynamoDB reports, and answers callers what they asked for', async () => {
    const before = endpoint.stats().dynamoCapacity;

    // An item of about 2.5 KB: 3 write units; a small one: 1.
    const big = await ddb.send(
      new PutItemCommand({
        TableName: 'billing',
        Item: { pk: { S: 'user' }, sk: { S: 'big' }, data: { S: 'd'.repeat(2500) } },
      }),
    );
    await ddb.send(
      new PutItemCommand({ TableName: 'billing', Item: { pk: { S: 'user' }, sk: { S: 'small' } } }),
    );
    // Strongly consistent read of the 2.5 KB item: 1 read unit; eventually consistent: 0.5.
    const strong = await ddb.send(
      new GetItemCommand({
        TableName: 'billing',
        Key: { pk: { S: 'user' }, sk: { S: 'big' } },
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    await ddb.send(
      new GetItemCommand({ TableName: 'billing', Key: { pk: { S: 'user' }, sk: { S: 'big' } } }),
    );

    const after = endpoint.stats().dynamoCapacity;
    assert.equal(after.writeUnits - before.writeUnits, 4);
    assert.equal(after.readUnits - before.readUnits, 1.5);
    assert.equal(big.ConsumedCapacity, undefined, 'capacity the caller did not ask for is not in its answer');
    assert.equal(strong.ConsumedCapacity?.CapacityUnits, 1, 'capacity the caller asked for is');
    assert.equal(strong.Item?.data?.S?.length, 2500);
  });

  it('counts batch writes and queries by operation', async () => {
    const before = endpoint.stats().dynamoCapacity;

    await ddb.send(
      new BatchWriteItemCommand({
        RequestItems: {
          billing: ['a', 'b', 'c'].map((sk) => ({
            PutRequest: { Item: { pk: { S: 'batch' }, sk: { S: sk } } },
          })),
        },
      }),
    );
    const query = await ddb.send(
      new QueryCommand({
        TableName: 'billing',
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'batch' } },
        ConsistentRead: true,
      }),
    );

    const after = endpoint.stats().dynamoCapacity;
    assert.equal(query.Count, 3);
    assert.equal(query.ConsumedCapacity, undefined);
    assert.equal(
      (after.unitsByOperation.BatchWriteItem ?? 0) - (before.unitsByOperation.BatchWriteItem ?? 0),
      3,
    );
    // Three tiny items read together: one strongly consistent 4 KB unit.
    assert.equal((after.unitsByOperation.Query ?? 0) - (before.unitsByOperation.Query ?? 0), 1);
  });

  it('counts a refused conditional write as a failed request, with no units from the engine', async () => {
    const before = endpoint.stats().dynamoCapacity;

    await assert.rejects(
      ddb.send(
        new PutItemCommand({
          TableName: 'billing',
          Item: { pk: { S: 'user' }, sk: { S: 'small' } },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
      { name: 'ConditionalCheckFailedException' },
    );

    const after = endpoint.stats().dynamoCapacity;
    const key = 'PutItem ConditionalCheckFailedException';
    assert.equal((after.failedRequests[key] ?? 0) - (before.failedRequests[key] ?? 0), 1);
    assert.equal(after.writeUnits, before.writeUnits);
  });
});

describe('billing counters of the local Lambda runtime', () => {
  let runtime: LambdaRuntime;

  before(() => {
    runtime = new LambdaRuntime({
      log: () => {},
      functions: [
        { name: 'sized', entry: fixture('env-probe'), memorySizeMb: 512 },
        { name: 'unsized', entry: fixture('env-probe') },
      ],
    });
  });

  after(() => runtime?.close());

  it('reports the configured memory to the function and bills GB-seconds at it', async () => {
    const result = (await runtime.invoke('sized', {})) as {
      env: Record<string, string | null>;
      context: { memoryLimitInMB: string };
    };
    for (let i = 0; i < 3; i++) await runtime.invoke('sized', { sleepMs: 50 });

    const stats = runtime.stats('sized');
    assert.equal(result.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '512');
    assert.equal(result.context.memoryLimitInMB, '512');
    assert.equal(stats.memorySizeMb, 512);
    assert.equal(stats.invocations, 4);
    // Three invocations slept 50 ms each (a timer may fire up to a millisecond early).
    assert.ok(stats.durationMs >= 3 * 49, `duration ${stats.durationMs} ms`);
    assert.ok(Number.isInteger(stats.billedDurationMs));
    assert.ok(stats.billedDurationMs >= stats.durationMs && stats.billedDurationMs <= stats.durationMs + 4);
    assert.equal(stats.gbSeconds, (stats.billedDurationMs / 1000) * 0.5);
  });

  it("uses Lambda's 128 MB when the function sets no memory size", async () => {
    const result = (await runtime.invoke('unsized', {})) as { env: Record<string, string | null> };

    assert.equal(result.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '128');
    assert.equal(runtime.stats('unsized').memorySizeMb, 128);
    assert.ok(runtime.stats('unsized').billedDurationMs >= 1);
  });
});

describe('billing counters of the local gateway', () => {
  let gateway: Gateway;
  let client: ApiGatewayManagementApiClient;

  before(async () => {
    gateway = await startGateway({
      api: { name: 'billing-api', stage: 'test', routes: {} },
      invoke: async () => ({ statusCode: 200 }),
      log: () => {},
    });
    client = new ApiGatewayManagementApiClient({
      endpoint: gateway.callbackUrl,
      region: LOCAL_REGION,
      credentials,
      maxAttempts: 1,
    });
  });

  after(async () => {
    client?.destroy();
    await gateway?.close();
  });

  it('bills each post per started 32 KB, and not a post that failed', async () => {
    const [id] = gateway.simulated.create(1);
    const before = gateway.stats();

    await client.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'p'.repeat(40 * KB) }));
    await client.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'small' }));
    await assert.rejects(client.send(new PostToConnectionCommand({ ConnectionId: 'gone', Data: 'lost' })), {
      name: 'GoneException',
    });

    const after = gateway.stats();
    assert.equal(after.posts - before.posts, 2);
    assert.equal(after.billedPosts - before.billedPosts, 3);
    assert.equal(after.postedBytes - before.postedBytes, 40 * KB + 5);
  });

  it("counts a client's messages and the minutes its connection was open", async () => {
    const before = gateway.stats();
    const opened = Date.now();
    const socket = new WebSocket(gateway.url);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.send('{"action":"ping"}');
    // The gateway answers the routeless message with an error frame: by then it has counted it.
    await new Promise((resolve) => socket.once('message', resolve));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.close();
    await closed;
    const elapsedMinutes = (Date.now() - opened) / 60_000;

    const after = gateway.stats();
    assert.equal(after.clientMessages - before.clientMessages, 1);
    assert.equal(after.billedClientMessages - before.billedClientMessages, 1);
    const minutes = after.connectionMinutes - before.connectionMinutes;
    assert.ok(minutes > 0 && minutes <= elapsedMinutes, `${minutes} connection minutes`);
  });
});
