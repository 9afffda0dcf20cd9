import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { createTables, type DynamoServer, probeJava, startDynamo } from '../../emulator/aws/dynamodb.ts';
import type { TableSpec } from '../../emulator/topology.ts';

const REGION = 'us-east-1';
const TABLES: readonly TableSpec[] = [
  {
    name: 'connections',
    partitionKey: 'pk',
    sortKey: 'sk',
    ttlAttribute: 'expiresAt',
    globalSecondaryIndexes: [{ name: 'byConnection', partitionKey: 'connectionId' }],
  },
  { name: 'prefs', partitionKey: 'userId' },
];

function client(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'other', secretAccessKey: 'other' },
    maxAttempts: 1,
  });
}

async function assertTablesUsable(endpoint: string): Promise<void> {
  const ddb = client(endpoint);
  try {
    const { Table } = await ddb.send(new DescribeTableCommand({ TableName: 'connections' }));
    assert.equal(Table?.TableStatus, 'ACTIVE');
    assert.equal(Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(Table?.KeySchema, [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    const gsi = Table?.GlobalSecondaryIndexes?.[0];
    assert.equal(gsi?.IndexName, 'byConnection');
    assert.equal(gsi?.Projection?.ProjectionType, 'ALL');
    await ddb.send(
      new PutItemCommand({ TableName: 'prefs', Item: { userId: { S: 'u1' }, mute: { BOOL: true } } }),
    );
    const { Item } = await ddb.send(new GetItemCommand({ TableName: 'prefs', Key: { userId: { S: 'u1' } } }));
    assert.equal(Item?.mute?.BOOL, true);
  } finally {
    ddb.destroy();
  }
}

async function refusesConnections(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

describe('the local DynamoDB engine', () => {
  it('runs dynalite in memory, creates tables idempotently and tolerates its missing TTL support', async () => {
    const lines: string[] = [];
    let dynamo: DynamoServer | undefined;
    try {
      dynamo = await startDynamo({ engine: 'dynalite', log: (line) => lines.push(line) });
      assert.equal(dynamo.engine, 'dynalite');
      assert.match(dynamo.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
      await createTables(dynamo.endpoint, TABLES, REGION, { log: (line) => lines.push(line) });
      await createTables(dynamo.endpoint, TABLES, REGION, { log: (line) => lines.push(line) });
      await assertTablesUsable(dynamo.endpoint);
      assert.ok(lines.some((line) => line.includes('dynalite')));
      assert.ok(lines.some((line) => /does not support TTL/.test(line)));
      assert.ok(lines.some((line) => /connections already exists/.test(line)));
    } finally {
      await dynamo?.close();
    }
    assert.ok(dynamo && (await refusesConnections(dynamo.endpoint)), 'closed engines stop listening');
  });

  it('picks DynamoDB Local when Java is found, enables TTL there and kills Java on close', {
    timeout: 60_000,
  }, async () => {
    const java = probeJava();
    if (!java.found) {
      // Without Java, asking for DynamoDB Local explicitly must fail clearly rather than fall back.
      await assert.rejects(startDynamo({ engine: 'dynamodb-local' }), { code: 'DYNAMO_START_FAILED' });
      return;
    }
    const lines: string[] = [];
    let dynamo: DynamoServer | undefined;
    try {
      dynamo = await startDynamo({ engine: 'auto', log: (line) => lines.push(line) });
      assert.equal(dynamo.engine, 'DynamoDB Local');
      assert.ok(
        lines.some((line) => line.includes('DynamoDB Local') && line.includes(`Java ${java.version}`)),
      );
      await createTables(dynamo.endpoint, TABLES, REGION);
      await createTables(dynamo.endpoint, TABLES, REGION);
      await assertTablesUsable(dynamo.endpoint);
      const ddb = client(dynamo.endpoint);
      try {
        const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: 'connections' }));
        assert.equal(ttl.TimeToLiveDescription?.TimeToLiveStatus, 'ENABLED');
        assert.equal(ttl.TimeToLiveDescription?.AttributeName, 'expiresAt');
      } finally {
        ddb.destroy();
      }
    } finally {
      await dynamo?.close();
    }
    assert.ok(
      dynamo && (await refusesConnections(dynamo.endpoint)),
      'the Java process is gone after close()',
    );
  });

  it('reports a taken port as PortInUseError naming the port', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      await assert.rejects(startDynamo({ engine: 'dynalite', port }), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'PORT_IN_USE');
        assert.ok(error.message.includes(String(port)));
        return true;
      });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
